"""The results table of the report: a row per run, mean and std per method, then the baselines,
the chance level of retrieval and the ceiling of the attribute proxies; as Markdown and CSV."""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pldt_jax.report_runs import Run

# (key in eval/metrics.json, column title, format).
METRICS: tuple[tuple[str, str, str], ...] = (
    ("rmse", "RMSE", ".4f"),
    ("cssim", "C-SSIM", ".4f"),
    ("retrieval_top1", "Top-1", ".3f"),
    ("retrieval_top5", "Top-5", ".3f"),
    ("cat", "Cat", ".3f"),
    ("att", "Att", ".3f"),
    ("realism_fd", "Realism (FD)", ".1f"),
)
CSV_FIELDS = ("kind", "method", "run", "seed", "steps", "n", *(key for key, _, _ in METRICS))
CEILING = "true product (ceiling)"


@dataclasses.dataclass
class Row:
    """One table row. `kind`: run, mean, std, baseline, chance or ceiling."""

    kind: str
    method: str
    run: str = ""
    seed: int | None = None
    steps: str = ""
    n: int | None = None
    values: dict[str, float] = dataclasses.field(default_factory=dict)


def _steps_text(steps: Sequence[int | None]) -> str:
    known = sorted({s for s in steps if s is not None})
    if not known:
        return ""
    return str(known[0]) if len(known) == 1 else f"{known[0]}-{known[-1]}"


def _same(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """Equal up to float32 noise: one baseline computed in two runs differs in the 8th digit."""
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-5) for k in a)


def _deduplicated(rows: list[Row]) -> list[Row]:
    """Identical reference rows (e.g. the mean-product baseline of every run) once; rows of
    the same name whose values differ (a per-run baseline) keep their run."""
    kept: list[Row] = []
    for row in rows:
        if any(k.method == row.method and _same(k.values, row.values) for k in kept):
            continue
        kept.append(row)
    for row in kept:
        if sum(k.method == row.method for k in kept) == 1:
            row.run = ""
    return kept


def build_rows(runs: Sequence[Run]) -> list[Row]:
    """Runs grouped by method (in the order given, then by seed), each group followed by
    mean and std rows when it has several runs; then baselines and the proxies' ceiling."""
    rows: list[Row] = []
    methods = list(dict.fromkeys(run.method for run in runs))
    for method in methods:
        group = sorted(
            (r for r in runs if r.method == method),
            key=lambda r: (r.seed is None, r.seed or 0, r.workdir),
        )
        for run in group:
            rows.append(
                Row(
                    "run",
                    method,
                    Path(run.workdir).name,
                    run.seed,
                    _steps_text([run.steps]),
                    1,
                    {key: run.metrics[key] for key, _, _ in METRICS if key in run.metrics},
                )
            )
        if len(group) > 1:
            steps = _steps_text([r.steps for r in group])
            mean, std = Row("mean", method, steps=steps), Row("std", method, steps=steps)
            for key, _, _ in METRICS:
                values = [r.metrics[key] for r in group if key in r.metrics]
                if values:
                    mean.values[key] = float(np.mean(values))
                    std.values[key] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            mean.n = std.n = len(group)
            rows += [mean, std]
    # Baselines and ceilings depend on the image size: with several, each names its own.
    several_sizes = len({run.resolution for run in runs} - {None}) > 1
    references = []
    for run in runs:
        size = f", {run.resolution} px" if several_sizes and run.resolution else ""
        for name, values in run.baselines.items():
            kept = {key: values[key] for key, _, _ in METRICS if key in values}
            references.append(
                Row("baseline", f"{name} (baseline{size})", Path(run.workdir).name, values=kept)
            )
        if "retrieval_gallery_size" in run.metrics:
            # A random ranking of the split's products: top-k is k / their number.
            gallery = int(run.metrics["retrieval_gallery_size"])
            chance = {
                key: run.metrics[f"retrieval_chance_top{k}"]
                for k, key in ((1, "retrieval_top1"), (5, "retrieval_top5"))
                if f"retrieval_chance_top{k}" in run.metrics
            }
            name = f"chance (random ranking of {gallery} products{size})"
            references.append(Row("chance", name, Path(run.workdir).name, values=chance))
        ceiling = {
            key: run.metrics[f"{key}_ceiling"]
            for key, _, _ in METRICS
            if f"{key}_ceiling" in run.metrics
        }
        if ceiling:
            name = CEILING.replace(")", f"{size})")
            references.append(Row("ceiling", name, Path(run.workdir).name, values=ceiling))
    return rows + _deduplicated(references)


def _format(value: float | None, spec: str) -> str:
    return "" if value is None or not math.isfinite(value) else format(value, spec)


def table_cells(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of the table; a method's mean and std rows merge into
    'mean ± std'."""
    header = ["Method", "Run", "Seed", "Steps", *(title for _, title, _ in METRICS)]
    std_rows = {row.method: row for row in rows if row.kind == "std"}
    lines = []
    for row in rows:
        if row.kind == "std":
            continue
        cells = []
        for key, _, spec in METRICS:
            text = _format(row.values.get(key), spec)
            if row.kind == "mean" and text:
                text += f" ± {_format(std_rows[row.method].values.get(key), spec)}"
            cells.append(text)
        run = f"mean ± std of {row.n}" if row.kind == "mean" else row.run
        seed = "" if row.seed is None else str(row.seed)
        lines.append([row.method, run, seed, row.steps, *cells])
    return header, lines


def markdown_table(rows: Sequence[Row]) -> str:
    header, lines = table_cells(rows)
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """Machine-readable rows: the mean and std of a method are separate rows (`kind`)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    "kind": row.kind,
                    "method": row.method,
                    "run": row.run,
                    "seed": "" if row.seed is None else row.seed,
                    "steps": row.steps,
                    "n": "" if row.n is None else row.n,
                    **{key: repr(value) for key, value in row.values.items()},
                }
            )
