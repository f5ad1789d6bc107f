"""What the results report reads from each work dir, and how the runs line up.

`load_run` reads config.json, metrics.jsonl, eval/metrics.json and eval/examples.npz (each
if present) into a `Run`; `label_runs` names the runs uniquely; `align_examples` matches
their example outputs by image id; `consistency_notes` says where the runs' numbers are not
comparable.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass
class Run:
    """What the report needs from one work dir."""

    workdir: str
    method: str  # eval/metrics.json's method, else config.name, else the work dir's name
    seed: int | None
    steps: int | None
    metrics: dict[str, float]  # eval/metrics.json's numbers (the proxies too)
    baselines: dict[str, dict[str, float]]
    curves: dict[str, tuple[list[int], list[float]]]  # metrics.jsonl: key -> (steps, values)
    examples: dict[str, np.ndarray] | None  # eval/examples.npz
    split: str | None  # the split eval/metrics.json was computed on
    resolution: int | None = None  # config.json's image size
    direction: str = "human_to_product"  # config.json's dataset.direction
    label: str = ""  # unique among the runs of one report


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _numbers(values: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def read_curves(path: Path) -> dict[str, tuple[list[int], list[float]]]:
    """metrics.jsonl -> {key: (steps, values)} in step order.

    Lines cut short by a crash are skipped; a step logged again after resuming from an
    earlier checkpoint keeps its latest value.
    """
    points: dict[str, dict[int, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or "step" not in record:
                continue
            for key, value in _numbers(record).items():
                if key != "step":
                    points.setdefault(key, {})[int(record["step"])] = value
    return {
        key: (sorted(by_step), [by_step[step] for step in sorted(by_step)])
        for key, by_step in points.items()
    }


def load_run(workdir: str | os.PathLike) -> Run:
    """Reads config.json, metrics.jsonl, eval/metrics.json and eval/examples.npz, if present."""
    path = Path(workdir)
    config = _read_json(path / "config.json")
    evaluation = _read_json(path / "eval" / "metrics.json")
    curves = read_curves(path / "metrics.jsonl")
    steps = evaluation.get("step")
    if steps is None and curves:
        steps = max(max(s) for s, _ in curves.values())
    examples = None
    if (path / "eval" / "examples.npz").exists():
        with np.load(path / "eval" / "examples.npz") as data:
            examples = {key: data[key] for key in data.files}
    return Run(
        workdir=str(path),
        method=str(evaluation.get("method") or config.get("name") or path.resolve().name),
        seed=config.get("seed"),
        steps=None if steps is None else int(steps),
        metrics=_numbers(evaluation),
        baselines={
            name: _numbers(values) for name, values in evaluation.get("baselines", {}).items()
        },
        curves=curves,
        examples=examples,
        split=evaluation.get("split"),
        resolution=config.get("resolution"),
        direction=config.get("dataset", {}).get("direction", "human_to_product"),
    )


def label_runs(runs: Sequence[Run]) -> None:
    """Gives each run a unique column label: the method, plus the seed or dir when shared."""
    for run in runs:
        same_method = [r for r in runs if r.method == run.method]
        run.label = run.method
        if len(same_method) > 1:
            run.label += f" (seed {run.seed})"
            if sum(r.seed == run.seed for r in same_method) > 1:
                run.label = f"{run.method} ({Path(run.workdir).name})"


def consistency_notes(runs: Sequence[Run]) -> list[str]:
    """Warnings when the runs' numbers are not comparable: other splits, image counts or sizes."""
    notes = []
    by_size: dict[int, list[str]] = {}
    for run in runs:
        if run.resolution is not None:
            by_size.setdefault(run.resolution, []).append(run.label)
    if len(by_size) > 1:
        # Rarest size first; the runs of a size more common than every other as "the other N".
        groups = sorted(by_size.items(), key=lambda item: (len(item[1]), item[0]))
        listing = [f"{size} px: {', '.join(labels)}" for size, labels in groups]
        if len(groups[-1][1]) > len(groups[-2][1]):
            listing[-1] = f"{groups[-1][0]} px: the other {len(groups[-1][1])}"
        notes.append(
            f"The runs work at different image sizes ({'; '.join(listing)}): compare each with "
            "the baseline of its size; the example grid shows every picture at the largest."
        )
    for key, values in (
        ("splits", {run.label: run.split for run in runs if run.split is not None}),
        (
            "image counts",
            {r.label: f"{r.metrics['num_images']:g}" for r in runs if "num_images" in r.metrics},
        ),
    ):
        if len(set(values.values())) > 1:
            listing = ", ".join(f"{label}: {value}" for label, value in values.items())
            notes.append(f"The runs were evaluated on different {key} ({listing}).")
    return notes


def align_examples(runs: Sequence[Run]) -> tuple[dict[str, Any] | None, list[str]]:
    """The test photos the runs with eval/examples.npz are shown on, and what does not
    line up.

    The first such run fixes the photos (its `image_id` order); every run's outputs are
    matched to them by image id. Returns {'image_id', 'source', 'target', label:
    generated image or None per photo} and notes for the page.
    """
    notes = [f"{run.label}: no eval/examples.npz." for run in runs if run.examples is None]
    with_examples = [run for run in runs if run.examples is not None]
    if not with_examples:
        return None, notes
    first = with_examples[0].examples
    ids = first["image_id"]
    aligned: dict[str, Any] = {key: first[key] for key in ("image_id", "source", "target")}
    for run in with_examples:
        position = {int(i): n for n, i in enumerate(run.examples["image_id"])}
        aligned[run.label] = [
            run.examples["generated"][position[int(i)]] if int(i) in position else None for i in ids
        ]
        if not np.array_equal(run.examples["image_id"], ids):
            missing = sum(int(i) not in position for i in ids)
            notes.append(
                f"{run.label}: its examples are not the same test photos as "
                f"{with_examples[0].label}'s (image ids differ; {missing} of {len(ids)} "
                "photos missing, shown blank)."
            )
    return aligned, notes


def example_titles(runs: Sequence[Run]) -> tuple[str, str]:
    """What the example grid's first two columns show: the inputs and the true outputs."""
    shown = [run for run in runs if run.examples is not None]
    if shown and shown[0].direction == "product_to_human":
        return "product", "true photo"
    return "photo", "true product"
