"""The report on hand-written work dirs: table rows, seed aggregation, CSV, HTML, CLI."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.path import Path as DrawnPath
from PIL import Image

from pldt_jax import report, report_page, report_runs, report_table

R = 8  # Tiny images.


def make_workdir(
    root: Path,
    dirname: str,
    name: str | None,
    seed: int,
    evaluation: dict | None,
    image_ids: list[int] | None,
    size: int | None = None,
    direction: str | None = None,
) -> Path:
    """A finished run's files; `size`: its config's resolution (unset if None), else R."""
    workdir = root / dirname
    (workdir / "eval").mkdir(parents=True)
    config = {"seed": seed, "batch_size": 4} | ({"name": name} if name else {})
    config |= {} if size is None else {"resolution": size}
    config |= {} if direction is None else {"dataset": {"direction": direction}}
    size = size or R
    (workdir / "config.json").write_text(json.dumps(config))
    lines = [
        json.dumps({"step": 10 * (i + 1), "converter_loss": loss, "mse": loss / 2, "finite": 1})
        for i, loss in enumerate((1.0, 0.5, 0.25))
    ]
    # Step 20 logged, then again after resuming from step 10; a crash cut the last line.
    lines.insert(1, json.dumps({"step": 20, "converter_loss": 9.0, "mse": 9.0}))
    (workdir / "metrics.jsonl").write_text("\n".join(lines) + "\n{truncated")
    if evaluation is not None:
        (workdir / "eval" / "metrics.json").write_text(json.dumps(evaluation))
    if image_ids is not None:
        k = len(image_ids)
        rng = np.random.default_rng(seed)
        np.savez(
            workdir / "eval" / "examples.npz",
            source=np.full((k, size, size, 3), 10, np.uint8),
            target=np.full((k, size, size, 3), 200, np.uint8),
            generated=rng.integers(0, 256, (k, size, size, 3), dtype=np.uint8),
            image_id=np.array(image_ids, np.int64),
        )
    return workdir


def evaluation(rmse: float, cssim: float, proxies: bool = True) -> dict:
    result = {
        "rmse": rmse,
        "cssim": cssim,
        "num_images": 16,
        "split": "test",
        "step": 30,
        "baselines": {"mean_product": {"rmse": 0.5, "cssim": 0.1, "num_images": 16}},
    }
    if proxies:
        result |= {
            "cat": 0.75,
            "att": 0.5,
            "realism_fd": 12.5,
            "cat_ceiling": 1.0,
            "att_ceiling": 0.9,
            "realism_fd_ceiling": 3.0,
        }
    return result


@pytest.fixture
def workdirs(tmp_path):
    return [
        make_workdir(tmp_path, "ours_s0", "C+RF+DD", 0, evaluation(0.30, 0.20), [5, 7, 9]),
        make_workdir(tmp_path, "ours_s1", "C+RF+DD", 1, evaluation(0.34, 0.22), [5, 7, 9]),
        make_workdir(
            tmp_path,
            "mse",
            "C+MSE",
            0,
            evaluation(0.25, 0.21, proxies=False) | {"split": "validation"},
            [9, 5, 11],
        ),
        make_workdir(tmp_path, "unnamed_run", None, 0, None, None),
    ]


def test_rows_aggregate_seeds_and_leave_missing_metrics_blank(workdirs):
    runs = [report_runs.load_run(w) for w in workdirs]
    report_runs.label_runs(runs)
    assert [r.label for r in runs] == [
        "C+RF+DD (seed 0)",
        "C+RF+DD (seed 1)",
        "C+MSE",
        "unnamed_run",  # No config.name: the work dir's name.
    ]
    assert runs[3].steps == 30  # No eval: the last logged step.
    rows = report_table.build_rows(runs)
    kinds = [(row.kind, row.method) for row in rows]
    assert kinds == [
        ("run", "C+RF+DD"),
        ("run", "C+RF+DD"),
        ("mean", "C+RF+DD"),
        ("std", "C+RF+DD"),
        ("run", "C+MSE"),
        ("run", "unnamed_run"),
        ("baseline", "mean_product (baseline)"),  # Same in every run: once.
        ("ceiling", report_table.CEILING),
    ]
    mean, std = rows[2].values, rows[3].values
    assert mean["rmse"] == pytest.approx(0.32) and std["rmse"] == pytest.approx(0.02 * 2**0.5)
    assert mean["cat"] == pytest.approx(0.75) and std["cat"] == pytest.approx(0.0)
    assert "cat" not in rows[4].values and rows[5].values == {}
    assert rows[7].values == {"cat": 1.0, "att": 0.9, "realism_fd": 3.0}

    header, lines = report_table.table_cells(rows)
    assert header[4:] == ["RMSE", "C-SSIM", "Top-1", "Top-5", "Cat", "Att", "Realism (FD)"]
    assert lines[2][:5] == ["C+RF+DD", "mean ± std of 2", "", "30", "0.3200 ± 0.0283"]
    assert lines[3][4:] == ["0.2500", "0.2100", "", "", "", "", ""]


def test_report_files(workdirs, tmp_path):
    out = tmp_path / "report"
    report.write_report(workdirs, out)

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["kind"] for row in rows] == [
        "run", "run", "mean", "std", "run", "run", "baseline", "ceiling"
    ]  # fmt: skip
    assert float(rows[0]["rmse"]) == 0.30 and rows[0]["seed"] == "0" and rows[0]["steps"] == "30"
    assert float(rows[2]["cssim"]) == pytest.approx(0.21) and rows[2]["n"] == "2"
    assert rows[4]["cat"] == "" and rows[5]["rmse"] == ""

    markdown = (out / "results.md").read_text()
    assert "| C+RF+DD | mean ± std of 2 |" in markdown
    assert "C+MSE: its examples are not the same test photos" in markdown
    assert "unnamed_run: no eval/examples.npz." in markdown
    assert (
        "different splits (C+RF+DD (seed 0): test, C+RF+DD (seed 1): test, C+MSE: validation)"
        in markdown
    )
    assert "different image counts" not in markdown

    page = (out / "index.html").read_text()
    sources = re.findall(r"<img src='([^']+)'", page)
    assert len(sources) == 3 * (2 + 3)  # Three photos x (photo, truth, 3 runs with examples).
    assert all((out / source).is_file() for source in sources)
    assert (out / "images" / "examples.png").is_file()
    assert "image ids differ" in page
    # Training curves: converter_loss and mse, not the constant `finite`.
    charts = re.findall(r"<img class='chart' src='([^']+)' alt='([^']+)'>", page)
    assert [title for _, title in charts] == ["converter_loss", "mse"] and "finite" not in page
    for source, _ in charts:
        assert Image.open(out / source).format == "PNG"  # Drawn by matplotlib.

    # Photo 7 is missing from C+MSE's examples: its cell is white; photo 9 is matched by id.
    def cell(image_id, column):
        return np.asarray(Image.open(out / "images" / f"example_{image_id}_{column}.png"))

    np.testing.assert_array_equal(cell(7, 4), 255)
    with np.load(workdirs[2] / "eval" / "examples.npz") as data:
        np.testing.assert_array_equal(cell(9, 4), data["generated"][0])


def test_runs_at_two_image_sizes(tmp_path):
    """A 128 px run beside 64 px ones: baselines per size, the grid at the larger size."""
    small = evaluation(0.30, 0.20)
    large = evaluation(0.40, 0.50)
    large["baselines"]["mean_product"] = {"rmse": 0.6, "cssim": 0.45, "num_images": 16}
    large["att_ceiling"] = 0.8
    workdirs = [
        make_workdir(tmp_path, "small", "C+RF+DD", 0, small, [5, 7], size=R),
        make_workdir(tmp_path, "large", "ResNet 2x", 0, large, [5, 7], size=2 * R),
    ]
    out = tmp_path / "report"
    report.write_report(workdirs, out)
    with open(out / "results.csv") as f:
        references = [(row["method"], row["cssim"], row["att"]) for row in csv.DictReader(f)][2:]
    assert references == [
        (f"mean_product (baseline, {R} px)", "0.1", ""),
        (f"true product (ceiling, {R} px)", "", "0.9"),
        (f"mean_product (baseline, {2 * R} px)", "0.45", ""),
        (f"true product (ceiling, {2 * R} px)", "", "0.8"),
    ]
    assert (
        f"different image sizes ({R} px: C+RF+DD; {2 * R} px: ResNet 2x)"
        in (out / "results.md").read_text()
    )
    grid = np.asarray(Image.open(out / "images" / "examples.png"))
    pad = 2
    assert grid.shape == (pad + 2 * (2 * R + pad), pad + 4 * (2 * R + pad), 3)
    # The small run's output, repeated 2x2 per pixel, in row 0, column 2.
    with np.load(workdirs[0] / "eval" / "examples.npz") as data:
        expected = data["generated"][0].repeat(2, axis=0).repeat(2, axis=1)
    left = pad + 2 * (2 * R + pad)
    np.testing.assert_array_equal(grid[pad : pad + 2 * R, left : left + 2 * R], expected)
    # Each cell's own PNG keeps its size.
    assert Image.open(out / "images" / "example_5_2.png").size == (R, R)
    assert Image.open(out / "images" / "example_5_3.png").size == (2 * R, 2 * R)


def test_reverse_direction_names_its_columns(tmp_path):
    """PLDT Fig. 6 runs (product to photo): the inputs are products, the truths photos."""
    result = evaluation(0.3, 0.2, proxies=False)
    result["baselines"] = {"mean_photo": {"rmse": 0.4, "cssim": 0.3, "num_images": 16}}
    name = "C+RF+DD (product to human)"
    workdirs = [
        make_workdir(
            tmp_path, f"p2h_s{seed}", name, seed, result, [1, 2], direction="product_to_human"
        )
        for seed in (0, 1)
    ]
    out = tmp_path / "report"
    report.write_report(workdirs, out)
    markdown = (out / "results.md").read_text()
    assert "Test products: product | true photo | C+RF+DD (product to human) (seed 0)" in markdown
    assert "| mean_photo (baseline) |  |  |  | 0.4000 | 0.3000 |" in markdown
    page = (out / "index.html").read_text()
    assert "<h2>Test products</h2>" in page and "<th>true photo</th>" in page


def test_command_line_takes_space_separated_workdirs(workdirs, tmp_path):
    out = tmp_path / "cli"
    subprocess.run(
        [sys.executable, "-m", "pldt_jax.report", "--workdirs", *map(str, workdirs[:2])]
        + ["--output", str(out)],
        check=True,
        capture_output=True,
    )
    with open(out / "results.csv") as f:
        assert [row["kind"] for row in csv.DictReader(f)] == [
            "run", "run", "mean", "std", "baseline", "ceiling"
        ]  # fmt: skip


def test_curves_keep_the_latest_value_of_a_step(workdirs):
    steps, values = report_runs.load_run(workdirs[0]).curves["converter_loss"]
    assert steps == [10, 20, 30] and values == [1.0, 0.5, 0.25]


def drawn_segments(line) -> int:
    """How many separate strokes matplotlib draws for a line: one per MOVETO."""
    path = line.get_transform().transform_path(line.get_path())
    return sum(code == DrawnPath.MOVETO for _, code in path.iter_segments(remove_nans=True))


def test_chart_breaks_lines_at_non_finite_values():
    ys = [1.0, float("nan"), 2, 3, float("inf"), 4, 5]
    figure = report_page.line_chart("loss", [("a", "#000000", range(len(ys)), ys)])
    (axes,) = figure.axes
    (line,) = axes.lines
    assert axes.get_title() == "loss" and line.get_label() == "a"
    assert drawn_segments(line) == 3  # 1 | 2, 3 | 4, 5: a gap at each non-finite point.
    assert axes.get_ylim()[1] < 6  # The infinity is no part of the scale.
    (text,) = report_page.line_chart("empty", []).axes[0].texts
    assert text.get_text() == "no data"


def retrieval(top1: float, top5: float, gallery: int = 25) -> dict:
    return {
        "retrieval_top1": top1,
        "retrieval_top5": top5,
        "retrieval_chance_top1": 1 / gallery,
        "retrieval_chance_top5": 5 / gallery,
        "retrieval_gallery_size": gallery,
    }


def test_retrieval_columns_and_their_chance_level(tmp_path):
    ours = evaluation(0.30, 0.20) | retrieval(0.4, 0.8)
    ours["baselines"]["mean_product"] |= {"retrieval_top1": 0.04, "retrieval_top5": 0.2}
    other = evaluation(0.32, 0.22) | retrieval(0.5, 0.9)
    other["baselines"] = ours["baselines"]
    workdirs = [
        make_workdir(tmp_path, "a", "C+RF+DD", 0, ours, None),
        make_workdir(tmp_path, "b", "C+MSE", 0, other, None),
    ]
    runs = [report_runs.load_run(w) for w in workdirs]
    report_runs.label_runs(runs)
    rows = report_table.build_rows(runs)
    # The same gallery in both runs: one chance row.
    assert [row.kind for row in rows] == ["run", "run", "baseline", "chance", "ceiling"]
    header, lines = report_table.table_cells(rows)
    top1, top5 = header.index("Top-1"), header.index("Top-5")
    assert [line[top1] for line in lines] == ["0.400", "0.500", "0.040", "0.040", ""]
    assert [line[top5] for line in lines] == ["0.800", "0.900", "0.200", "0.200", ""]
    assert lines[3][0] == "chance (random ranking of 25 products)"
    report.write_report(workdirs, tmp_path / "report")
    with open(tmp_path / "report" / "results.csv") as f:
        chance = [row for row in csv.DictReader(f) if row["kind"] == "chance"]
    assert float(chance[0]["retrieval_top5"]) == 0.2
    assert "Top-1, Top-5: product retrieval" in (tmp_path / "report" / "results.md").read_text()


def test_validation_curves_get_a_chart_each(workdirs, tmp_path):
    with open(workdirs[0] / "metrics.jsonl", "a") as f:
        for step, cssim in ((10, 0.2), (30, 0.3)):  # Beside training rows of the same steps.
            row = {"step": step, "val/cssim": cssim, "val/retrieval_top5": 0.5, "val/rmse": 0.3}
            f.write("\n" + json.dumps(row))
    with open(workdirs[1] / "metrics.jsonl", "a") as f:
        f.write("\n" + json.dumps({"step": 30, "val/cssim": 0.25, "val/cat": 0.5}))
    runs = report.write_report(workdirs, tmp_path / "report")
    assert runs[0].curves["val/cssim"] == ([10, 30], [0.2, 0.3])
    page = (tmp_path / "report" / "index.html").read_text()
    validation = page.split("<h2>Validation curves</h2>")[1]
    linked = re.findall(r"<img class='chart' src='([^']+)' alt='([^']+)'>", validation)
    # C-SSIM (a line per run), retrieval top-5, Cat; no Att logged, val/rmse not charted.
    titles = ["validation C-SSIM", "validation retrieval top-5", "validation Cat"]
    assert [title for _, title in linked] == titles
    for source, _ in linked:
        assert Image.open(tmp_path / "report" / source).format == "PNG"
    charts = report_page.validation_charts(runs)
    assert [chart.title for chart in charts] == titles
    lines = [chart.figure.axes[0].lines for chart in charts]
    assert len(lines[0]) == 2  # A line per run.
    assert [line.get_marker() for line in lines[0] + lines[1]] == ["o"] * 3
    assert sum(len(line.get_xdata()) for line in lines[0]) == 3  # A dot per evaluation.
    assert len(lines[1][0].get_xdata()) == 2  # Constant, yet drawn: every evaluation a dot.
    # Not among the training curves either.
    training = page.split("<h2>Training curves</h2>")[1].split("<h2>Validation curves</h2>")[0]
    assert "val/" not in training and "validation" not in training
