"""The report's pictures and page: the example grid as PNG files, the training and validation
curves drawn by matplotlib as PNG files, and index.html filled in from templates/report.html.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import matplotlib.colors
import numpy as np
from matplotlib.figure import Figure

from pldt_jax import images
from pldt_jax.report_runs import Run, example_titles
from pldt_jax.report_table import CEILING, Row, table_cells

# The periodic validation's curves (metrics.jsonl's val/* rows), one chart each: (key, title).
VALIDATION_CURVES: tuple[tuple[str, str], ...] = (
    ("val/cssim", "validation C-SSIM"),
    ("val/retrieval_top5", "validation retrieval top-5"),
    ("val/cat", "validation Cat"),
    ("val/att", "validation Att"),
    ("val/spread_ratio", "validation spread of outputs / of true products"),
)
# Tableau's twenty colours, a dark and a light one of each hue: one per run in every chart and
# legend, so a method's two seeds (runs sorted by method, then seed) share a hue, and a report
# of up to 20 runs repeats none.
COLOURS = tuple(matplotlib.colors.to_hex(c) for c in matplotlib.colormaps["tab20"].colors)


def run_colour(index: int) -> str:
    """The colour of the index-th run."""
    return COLOURS[index % len(COLOURS)]


CHART_INCHES, CHART_DPI = (4.0, 2.4), 100
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


class Chart(NamedTuple):
    """One chart of the page: its file name stem, title and matplotlib figure."""

    name: str
    title: str
    figure: Figure


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
        # Runs at a smaller size (64 px beside 128 px) scaled up by repeating pixels.
        grid.append([images.enlarged(p, size // p.shape[0]) for p in row_images])
    images.save_png(images.image_grid(grid), folder / "examples.png")
    return cells


def line_chart(
    title: str,
    series: Sequence[tuple[str, str, Sequence[float], Sequence[float]]],
    markers: bool = False,
) -> Figure:
    """A small line chart: series are (label, colour, xs, ys). Non-finite points break the line.
    `markers` also draws a dot at every point (sparse series such as the periodic validation's;
    a single point shows only so)."""
    figure = Figure(figsize=CHART_INCHES, dpi=CHART_DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("step", fontsize=7)
    axes.tick_params(labelsize=7)
    for label, colour, xs, ys in series:
        ys = np.asarray(ys, np.float64)
        ys = np.where(np.isfinite(ys), ys, np.nan)  # matplotlib leaves a gap at NaN.
        axes.plot(xs, ys, color=colour, label=label, lw=1.2, marker="o" if markers else "", ms=3)
    if not series:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
    return figure


def _series(runs: Sequence[Run], key: str) -> list[tuple[str, str, list[int], list[float]]]:
    return [
        (run.label, run_colour(n), *run.curves[key])
        for n, run in enumerate(runs)
        if key in run.curves
    ]


def _file_stem(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", key)


def curve_charts(runs: Sequence[Run]) -> list[Chart]:
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
    return [Chart(_file_stem(key), key, line_chart(key, _series(runs, key))) for key in keys]


def validation_charts(runs: Sequence[Run]) -> list[Chart]:
    """The periodic validation over steps: one chart per VALIDATION_CURVES quantity some run
    logged, a line (with a dot per evaluation) per run."""
    return [
        Chart(_file_stem(key), title, line_chart(title, series, markers=True))
        for key, title in VALIDATION_CURVES
        if (series := _series(runs, key))
    ]


def write_charts(charts: Sequence[Chart], folder: Path) -> list[dict[str, str]]:
    """Each chart as folder/<name>.png; their {'src', 'title'} for the page, in order."""
    if charts:
        folder.mkdir(parents=True, exist_ok=True)
    for chart in charts:
        chart.figure.savefig(folder / f"{chart.name}.png")
    return [{"src": f"{folder.name}/{chart.name}.png", "title": chart.title} for chart in charts]


def html_page(
    runs: Sequence[Run],
    rows: Sequence[Row],
    example_labels: Sequence[str],
    cells: list[list[str]] | None,
    notes: Sequence[str],
    charts_folder: Path,
) -> str:
    """The report page (pictures and charts are files beside it); writes the charts."""
    header, lines = table_cells(rows)
    return TEMPLATES.get_template("report.html").render(
        header=header,
        lines=lines,
        ceiling=CEILING,
        notes=notes,
        cells=cells,
        example_titles=[*example_titles(runs), *example_labels],
        runs=[(run.label, run_colour(n)) for n, run in enumerate(runs)],
        training_charts=write_charts(curve_charts(runs), charts_folder),
        validation_charts=write_charts(validation_charts(runs), charts_folder),
    )
