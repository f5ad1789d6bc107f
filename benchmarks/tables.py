"""Markdown tables of benchmark rows: one formatter for every harness and report, importing
nothing heavy (the GPU suite's parent process must not start JAX, which would take the GPU's
memory from the processes that measure)."""

from collections.abc import Sequence
from typing import Any


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of `rows` under (key, heading) `columns`; floats to 4 significant digits."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "-" if value is None else str(value)

    lines = [
        "| " + " | ".join(heading for _, heading in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(cell(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)
