"""python -m pldt_jax.report --workdirs DIR [DIR ...] --output OUT

Gathers finished runs into the paper's Table 3 and Fig. 5: writes OUT/results.md and
OUT/results.csv (a row per run: method, steps, RMSE, C-SSIM, retrieval top-1 / top-5, Cat,
Att, realism FD; a mean ± std row per method run with several seeds; the baselines, the
chance level of retrieval and the ceiling of the attribute proxies) and OUT/index.html (the
same table, the fixed test photos with the true product and every run's output side by
side, training and validation curves). Pictures go to OUT/images/, the curves (drawn by
matplotlib) to OUT/charts/. A metric a run lacks is left blank. The pieces: `report_runs`
(reading the work dirs), `report_table` (the rows), `report_page` (pictures, charts, page).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pldt_jax import errors
from pldt_jax.report_runs import (
    Run,
    align_examples,
    consistency_notes,
    example_titles,
    label_runs,
    load_run,
)
from pldt_jax.report_table import build_rows, markdown_table, write_csv

try:  # matplotlib and jinja2, the `report` extra: without them the command says so in one line.
    from pldt_jax import report_page
except ModuleNotFoundError as missing:
    report_page, MISSING = None, missing.name


class NoRunsError(errors.Error):
    """A work dir given to the report holds no run (or does not exist)."""


def check_workdirs(workdirs: Sequence[str | os.PathLike]) -> None:
    """Raises `NoRunsError` naming every work dir that is missing or holds no run's files."""
    if not workdirs:
        raise NoRunsError("no work dirs given: --workdirs DIR [DIR ...]")
    problems = []
    for workdir in map(Path, workdirs):
        if not workdir.is_dir():
            problems.append(f"{workdir}: no such folder")
        elif not any(
            (workdir / name).is_file()
            for name in ("config.json", "metrics.jsonl", "eval/metrics.json")
        ):
            problems.append(f"{workdir}: no run (no config.json, metrics.jsonl or eval/)")
    if problems:
        raise NoRunsError("; ".join(problems))


def write_report(workdirs: Sequence[str | os.PathLike], output: str | os.PathLike) -> list[Run]:
    """Writes results.md, results.csv, index.html, images/ and charts/ into `output`."""
    if report_page is None:
        raise errors.Error(f"the report needs {MISSING}: pip install 'pldt_jax[report]'")
    check_workdirs(workdirs)
    runs = [load_run(workdir) for workdir in workdirs]
    label_runs(runs)
    rows = build_rows(runs)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    write_csv(rows, output / "results.csv")
    aligned, notes = align_examples(runs)
    notes = consistency_notes(runs) + notes
    labels = [run.label for run in runs if run.examples is not None]
    if aligned is None:
        cells = None
    else:
        cells = report_page.write_example_images(aligned, labels, output / "images")
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
    page = report_page.html_page(runs, rows, labels, cells, notes, output / "charts")
    (output / "index.html").write_text(page)
    return runs


if __name__ == "__main__":
    from absl import flags

    from pldt_jax import cli

    flags.DEFINE_list("workdirs", None, "Work dirs of the runs (more may follow as arguments).")
    flags.DEFINE_string("output", None, "Folder for results.md, results.csv, index.html.")
    flags.mark_flags_as_required(["workdirs", "output"])

    def main(argv: Sequence[str]) -> None:
        # `--workdirs A B C`: absl takes A as the flag's value and leaves B, C as arguments.
        write_report([*flags.FLAGS.workdirs, *argv[1:]], flags.FLAGS.output)
        print(f"Report in {os.path.abspath(flags.FLAGS.output)}/index.html")

    cli.run(main, takes_arguments=True)
