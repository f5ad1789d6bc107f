"""python -m pldt_jax.report --workdirs DIR [DIR ...] --output OUT

Gathers finished runs into the paper's Table 3 and Fig. 5: writes OUT/results.md and
OUT/results.csv (a row per run: method, steps, RMSE, C-SSIM, retrieval top-1 / top-5, Cat,
Att, realism FD; a mean ± std row per method run with several seeds; the baselines, the
chance level of retrieval and the ceiling of the attribute proxies) and OUT/index.html (the
same table, the fixed test photos with the true product and every run's output side by
side, training and validation curves as inline SVG). Pictures go to OUT/images/. A metric a
run lacks is left blank.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pldt_jax import images

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
# The periodic validation's curves (metrics.jsonl's val/* rows), one chart each: (key, title).
VALIDATION_CURVES: tuple[tuple[str, str], ...] = (
    ("val/cssim", "validation C-SSIM"),
    ("val/retrieval_top5", "validation retrieval top-5"),
    ("val/cat", "validation Cat"),
    ("val/att", "validation Att"),
    ("val/spread_ratio", "validation spread of outputs / of true products"),
)
# Tableau's ten colours: one per run in every chart.
COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


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


def write_example_images(
    aligned: Mapping[str, Any], labels: Sequence[str], folder: Path
) -> list[list[str]]:
    """One PNG per cell (photo, true product, one per run label) and the whole grid in
    examples.png; returns the cells' file names relative to the report, row by row."""
    folder.mkdir(parents=True, exist_ok=True)
    blank = np.full_like(aligned["target"][0], 255)
    pictures = [aligned["source"], aligned["target"], *(aligned[label] for label in labels)]
    size = max(p.shape[0] for column in pictures for p in column if p is not None)
    cells, grid = [], []
    for n, image_id in enumerate(aligned["image_id"]):
        row_images = [aligned["source"][n], aligned["target"][n]]
        row_images += [
            blank if aligned[label][n] is None else aligned[label][n] for label in labels
        ]
        names = []
        for column, picture in enumerate(row_images):
            name = f"example_{int(image_id)}_{column}.png"
            images.save_png(picture, folder / name)
            names.append(f"{folder.name}/{name}")
        cells.append(names)
        grid.append([_enlarged(picture, size) for picture in row_images])
    images.save_png(images.image_grid(grid), folder / "examples.png")
    return cells


def _enlarged(picture: np.ndarray, size: int) -> np.ndarray:
    """A square picture scaled up to `size` by repeating pixels (runs at a smaller size)."""
    if picture.shape[0] == size:
        return picture
    return np.asarray(Image.fromarray(picture).resize((size, size), Image.Resampling.NEAREST))


def _nice(value: float) -> str:
    return f"{value:.3g}"


def svg_line_chart(
    title: str,
    series: Sequence[tuple[str, str, Sequence[float], Sequence[float]]],
    width: int = 360,
    height: int = 200,
    markers: bool = False,
) -> str:
    """A small line chart as inline SVG: series are (label, colour, xs, ys).

    Non-finite points break the line. Axes show the x and y ranges. `markers` also draws a
    dot at every point (sparse series such as the periodic validation's; a single point
    shows only so).
    """
    margin_left, margin_right, margin_top, margin_bottom = 48, 10, 22, 22
    points = [
        (x, y) for _, _, xs, ys in series for x, y in zip(xs, ys, strict=True) if math.isfinite(y)
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="12">'
        f"{html.escape(title)}</text>",
    ]
    if points:
        x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
        y_lo, y_hi = min(p[1] for p in points), max(p[1] for p in points)
        x_hi, y_hi = max(x_hi, x_lo + 1), y_hi if y_hi > y_lo else y_lo + 1
        plot_w = width - margin_left - margin_right
        plot_h = height - margin_top - margin_bottom

        def to_px(x: float, y: float) -> str:
            px = margin_left + (x - x_lo) / (x_hi - x_lo) * plot_w
            py = margin_top + (1 - (y - y_lo) / (y_hi - y_lo)) * plot_h
            return f"{px:.1f},{py:.1f}"

        bottom, right = margin_top + plot_h, margin_left + plot_w
        parts.append(
            f'<polyline points="{margin_left},{margin_top} {margin_left},{bottom} '
            f'{right},{bottom}" fill="none" stroke="#888"/>'
        )
        for text, x, y, anchor in (
            (_nice(y_hi), margin_left - 4, margin_top + 8, "end"),
            (_nice(y_lo), margin_left - 4, bottom, "end"),
            (_nice(x_lo), margin_left, bottom + 14, "start"),
            (_nice(x_hi), right, bottom + 14, "end"),
        ):
            parts.append(
                f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="10">{text}</text>'
            )
        for label, colour, xs, ys in series:
            segments: list[list[str]] = [[]]
            for x, y in zip(xs, ys, strict=True):
                if math.isfinite(y):
                    segments[-1].append(to_px(x, y))
                elif segments[-1]:
                    segments.append([])
            for segment in segments:
                if segment:
                    parts.append(
                        f'<polyline points="{" ".join(segment)}" fill="none" '
                        f'stroke="{colour}" stroke-width="1.5"><title>{html.escape(label)}'
                        "</title></polyline>"
                    )
            if markers:
                for point in (p for segment in segments for p in segment):
                    cx, cy = point.split(",")
                    parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
    else:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


def curve_charts(runs: Sequence[Run]) -> list[str]:
    """One chart per logged training quantity, a line per run; losses first; quantities that
    never change (e.g. a constant learning rate) are left out, and so are the periodic
    validation's (`validation_charts`)."""
    keys = list(
        dict.fromkeys(key for run in runs for key in run.curves if not key.startswith("val/"))
    )
    keys = [
        key
        for key in keys
        if len({v for run in runs if key in run.curves for v in run.curves[key][1]}) > 1
    ]
    keys = sorted(keys, key=lambda k: not ("loss" in k or k == "mse"))  # Stable: logged order.
    charts = []
    for key in keys:
        series = [
            (run.label, COLOURS[n % len(COLOURS)], *run.curves[key])
            for n, run in enumerate(runs)
            if key in run.curves
        ]
        charts.append(svg_line_chart(key, series))
    return charts


def validation_charts(runs: Sequence[Run]) -> list[str]:
    """The periodic validation over steps: one chart per VALIDATION_CURVES quantity some run
    logged, a line (with a dot per evaluation) per run."""
    charts = []
    for key, title in VALIDATION_CURVES:
        series = [
            (run.label, COLOURS[n % len(COLOURS)], *run.curves[key])
            for n, run in enumerate(runs)
            if key in run.curves
        ]
        if series:
            charts.append(svg_line_chart(title, series, markers=True))
    return charts


def html_page(
    runs: Sequence[Run],
    rows: Sequence[Row],
    example_labels: Sequence[str],
    cells: list[list[str]] | None,
    notes: Sequence[str],
) -> str:
    """The self-contained report page (pictures are files in images/)."""
    esc = html.escape
    header, lines = table_cells(rows)
    table = [
        "<table class='metrics'><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
    ]
    table += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in line) + "</tr>" for line in lines]
    table.append("</table>")
    body = [
        "<h1>PLDT results</h1>",
        "<h2>Table</h2>",
        "\n".join(table),
        "<p>Cat, Att, Realism (FD): automated stand-ins for the paper's user study "
        "(pldt_jax/attributes.py): category accuracy, mean of colour and pattern accuracy "
        "of an attribute classifier trained on real training products, and the Fréchet "
        f"distance to real products in its feature space (lower is better). "
        f"'{CEILING}': the classifier on the true products. "
        "Top-1, Top-5: product retrieval, needing no labels: the share of photos whose true "
        "product is among the 1 (5) of the split's products closest to the output "
        "(squared distance at 16 x 16 px; the DD-score for retrieval by DD-score; ties count "
        "against), beside a random ranking's 'chance' row. "
        "<a href='results.csv'>results.csv</a>, <a href='results.md'>results.md</a></p>",
    ]
    if notes:
        body.append("<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    if cells:
        titles = [*example_titles(runs), *example_labels]
        grid = ["<table class='examples'><tr>"]
        grid += [f"<th>{esc(t)}</th>" for t in titles]
        grid.append("</tr>")
        for row in cells:
            grid.append("<tr>" + "".join(f"<td><img src='{esc(c)}' alt=''></td>" for c in row))
            grid.append("</tr>")
        grid.append("</table>")
        body += [f"<h2>Test {esc(titles[0])}s</h2>", "".join(grid)]
    legend = "".join(
        f"<span style='color:{COLOURS[n % len(COLOURS)]}'>&#9632; {esc(run.label)}</span> "
        for n, run in enumerate(runs)
    )
    charts = curve_charts(runs)
    if charts:
        body += [
            "<h2>Training curves</h2>",
            f"<p>{legend}</p>",
            "<div>" + "".join(charts) + "</div>",
        ]
    charts = validation_charts(runs)
    if charts:
        body += [
            "<h2>Validation curves</h2>",
            "<p>The converter scored on the validation photos during training "
            f"(eval_every_steps). {legend}</p>",
            "<div>" + "".join(charts) + "</div>",
        ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "table.metrics td,table.metrics th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "table.examples img{width:128px;height:128px;image-rendering:pixelated}"
        "table.examples th{font-size:12px;max-width:128px}svg{margin:4px}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>PLDT results</title>"
        f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )


def write_report(workdirs: Sequence[str | os.PathLike], output: str | os.PathLike) -> list[Run]:
    """Writes results.md, results.csv, index.html and images/ into `output`."""
    if not workdirs:
        raise ValueError("No work dirs given.")
    runs = [load_run(workdir) for workdir in workdirs]
    label_runs(runs)
    rows = build_rows(runs)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    write_csv(rows, output / "results.csv")
    aligned, notes = align_examples(runs)
    notes = consistency_notes(runs) + notes
    labels = [run.label for run in runs if run.examples is not None]
    cells = None if aligned is None else write_example_images(aligned, labels, output / "images")
    markdown = ["# PLDT results", "", markdown_table(rows)]
    if any("retrieval_top1" in run.metrics for run in runs):
        markdown += [
            "Top-1, Top-5: product retrieval, the share of photos whose true product is among "
            "the 1 (5) of the split's products closest to the output (squared distance at "
            "16 x 16 px, or the DD-score); the 'chance' row is a random ranking's.",
            "",
        ]
    markdown += [f"- {note}" for note in notes]
    if cells:
        inputs, truths = example_titles(runs)
        markdown += ["", f"Test {inputs}s: {inputs} | {truths} | " + " | ".join(labels)]
        markdown += ["", "![examples](images/examples.png)", ""]
    (output / "results.md").write_text("\n".join(markdown))
    (output / "index.html").write_text(html_page(runs, rows, labels, cells, notes))
    return runs


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_list("workdirs", None, "Work dirs of the runs (more may follow as arguments).")
    flags.DEFINE_string("output", None, "Folder for results.md, results.csv, index.html.")
    flags.mark_flags_as_required(["workdirs", "output"])

    def main(argv: Sequence[str]) -> None:
        # `--workdirs A B C`: absl takes A as the flag's value and leaves B, C as arguments.
        write_report([*flags.FLAGS.workdirs, *argv[1:]], flags.FLAGS.output)
        print(f"Report in {os.path.abspath(flags.FLAGS.output)}/index.html")

    app.run(main)
