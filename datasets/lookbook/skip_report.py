"""What a LookBook build skipped and why: bad members never stop the build, each is counted
here with its reason; the report is logged, kept on the builder and saved in the metadata."""

from __future__ import annotations

import collections


class SkipReport:
    """What was skipped and why: every (name, detail) per reason; reports show a few."""

    def __init__(self, max_examples: int = 3):
        self.skipped: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
        self._max_examples = max_examples

    def add(self, reason: str, name: str, detail: str = "") -> None:
        self.skipped[reason].append((name, detail))

    @property
    def total(self) -> int:
        return sum(len(entries) for entries in self.skipped.values())

    def names(self, reason: str) -> list[str]:
        return [name for name, _ in self.skipped.get(reason, [])]

    def _examples(self, reason: str) -> list[str]:
        entries = self.skipped[reason][: self._max_examples]
        return [f"{name} ({detail})" if detail else name for name, detail in entries]

    def as_dict(self) -> dict[str, dict]:
        """Counts and examples per reason, as saved in the dataset's metadata."""
        return {
            reason: {"count": len(entries), "examples": self._examples(reason)}
            for reason, entries in sorted(self.skipped.items())
        }

    def summary(self) -> str:
        if not self.skipped:
            return "LookBook: nothing skipped."
        lines = [f"LookBook: skipped {self.total} files or archive members:"]
        for reason, entries in sorted(self.skipped.items(), key=lambda item: -len(item[1])):
            lines.append(f"  {len(entries):6d} {reason}, e.g. {'; '.join(self._examples(reason))}")
        return "\n".join(lines)
