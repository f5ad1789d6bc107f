"""Validation curves of runs against issue 12's targets: docs/quality_curves.png.

    python docs/plot_targets.py OUT.png WORKDIR[=LABEL] ...

One panel per target figure (C-SSIM, retrieval top-5, Cat, Att), the `val/*` rows of each
run's metrics.jsonl over its steps, the target as a dashed line. Runs given one label (seeds
of one setting) are drawn as their mean, with their range shaded.
"""

import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pldt_jax import report_runs  # noqa: E402

TARGETS = {"cssim": 0.50, "retrieval_top5": 0.8, "cat": 0.9, "att": 0.6}
TITLES = {"cssim": "C-SSIM", "retrieval_top5": "retrieval top-5", "cat": "Cat", "att": "Att"}


def main(output: str, runs: list[str]) -> None:
    figure, axes = plt.subplots(1, len(TARGETS), figsize=(4 * len(TARGETS), 3.4))
    groups: dict[str, list[dict]] = {}
    for run in runs:
        workdir, _, label = run.partition("=")
        groups.setdefault(label or workdir, []).append(
            report_runs.read_curves(Path(workdir) / "metrics.jsonl")
        )
    for label, curves in groups.items():
        for ax, key in zip(axes, TARGETS, strict=True):
            steps = curves[0][f"val/{key}"][0]
            values = np.array([c[f"val/{key}"][1] for c in curves])
            (line,) = ax.plot(steps, values.mean(axis=0), marker=".", label=label)
            if len(curves) > 1:
                ax.fill_between(
                    steps, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2
                )
    for ax, (key, target) in zip(axes, TARGETS.items(), strict=True):
        ax.axhline(target, color="black", linestyle="--", linewidth=1, label="target")
        ax.set_title(f"{TITLES[key]} (validation)")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(output, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
