"""The suite's real training run: the commands (`pldt_jax.prepare`, `pldt_jax.main`,
`pldt_jax.sample`) and what their files and logs say.

Why through the commands: the loop's own rate (data on the device, logging, checkpoints) is
what a schedule costs, and restoring the GPU-trained checkpoint on the CPU is what a user does
with it. The loop logs images/s per window of `log_every_steps` steps; the first window holds
the compilation, so the loop's rate is the median of the others, and the time to the first
step is read off absl's log timestamps: the first window's end, less its other steps at that
rate.
"""

import datetime
import json
import math
import re
import statistics
import sys
import tarfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DUMMY_DATA = REPO / "datasets" / "lookbook" / "dummy_data"
PAPER_CONFIG = REPO / "configs" / "lookbook.py"
# absl's line prefix: severity, MMDD HH:MM:SS.micros, thread, file:line]
_LOG_LINE = re.compile(r"^[IWEF](\d{4} \d\d:\d\d:\d\d\.\d+) +\d+ \S+\] (.*)$")


def data_overrides(smoke: bool, data_dir: Path) -> list[str]:
    """The data: the synthetic small LookBook, generated where the suite runs; the builder's
    dummy archive in smoke mode (seconds instead of about a minute on 2 cores)."""
    if smoke:
        source = ["--config.dataset.source=real", f"--config.dataset.manual_dir={DUMMY_DATA}"]
    else:
        source = ["--config.dataset.source=synthetic_small"]
    return [*source, f"--config.dataset.data_dir={data_dir}"]


def prepare_command(smoke: bool, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pldt_jax.prepare",
        f"--config={PAPER_CONFIG}",
        *data_overrides(smoke, data_dir),
    ]


def train_command(
    smoke: bool, data_dir: Path, workdir: Path, sizes: Any, dtype: str, strided_conv: str
) -> list[str]:
    """The paper's config at the suite's width and batch, the fastest step's precision and
    strided convolutions, `sizes.main_steps` steps: one checkpoint and one sample grid at the
    end, no periodic validation nor attribute judge (the final evaluation still runs)."""
    steps = sizes.main_steps
    overrides = {
        "model.width": sizes.width,
        "batch_size": sizes.batch,
        "model.dtype": dtype,
        "model.strided_conv": strided_conv,
        "total_steps": steps,
        "log_every_steps": sizes.main_log_every,
        "checkpoint_every_steps": steps,
        "sample_every_steps": steps,
        "eval_every_steps": 0,
        "attribute_classifier_steps": 0,
    }
    if smoke:
        overrides |= {"num_sample_images": 4, "eval_batch_size": 8}
    return [
        sys.executable,
        "-m",
        "pldt_jax.main",
        f"--config={PAPER_CONFIG}",
        f"--workdir={workdir}",
        *data_overrides(smoke, data_dir),
        *(f"--config.{key}={value}" for key, value in overrides.items()),
    ]


def sample_command(workdir: Path, photo: Path, product: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pldt_jax.sample",
        f"--workdir={workdir}",
        f"--input={photo}",
        f"--output={product}",
    ]


def extract_photo(smoke: bool, data_dir: Path, target: Path) -> None:
    """The first person photo of the archive the data was built from, written to `target`."""
    archives = [DUMMY_DATA / "lookbook.tar"] if smoke else sorted(data_dir.glob("**/lookbook.tar"))
    if not archives:
        raise FileNotFoundError(f"no lookbook.tar under {data_dir}")
    with tarfile.open(archives[0]) as tar:
        member = next(m for m in tar.getmembers() if "_CLEAN0_" in m.name)
        target.write_bytes(tar.extractfile(member).read())


def log_times(text: str, year: int) -> list[tuple[datetime.datetime, str]]:
    """(local time, message) of every absl log line of `text`."""
    stamped = []
    for line in text.splitlines():
        if (match := _LOG_LINE.match(line)) is not None:
            when = datetime.datetime.strptime(f"{year}{match[1]}", "%Y%m%d %H:%M:%S.%f")
            stamped.append((when, match[2]))
    return stamped


def _first(stamped: list[tuple[datetime.datetime, str]], pattern: str) -> datetime.datetime:
    return next(when for when, message in stamped if re.search(pattern, message))


def train_results(
    workdir: Path, log_text: str, launched: datetime.datetime, sizes: Any
) -> dict[str, Any]:
    """The run's loop rate, time to first step, losses, checkpoints and evaluation."""
    batch, log_every = sizes.batch, sizes.main_log_every
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "images_per_second" in row]
    steady = [row["images_per_second"] for row in rows[1:]]
    loop = statistics.median(steady) if steady else None
    stamped = log_times(log_text, launched.year)
    first_window = (_first(stamped, r"^step \d+/\d+ ") - launched).total_seconds()
    later_steps = (log_every - 1) * batch / loop if loop else 0.0
    losses = {k: v for row in rows for k, v in row.items() if k.endswith("loss")}
    evaluation = json.loads((workdir / "eval" / "metrics.json").read_text())
    checkpoints = sorted(
        int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()
    )
    return {
        "width": sizes.width,
        "batch": batch,
        "steps": rows[-1]["step"],
        "logged_windows": len(rows),
        "loop_images_per_s": loop,
        "loop_images_per_s_windows": steady,
        "time_to_first_step_s": first_window - later_steps,
        "setup_s": (_first(stamped, r"^Training steps ") - launched).total_seconds(),
        "batches_on_device": "batches gathered on the device" in log_text,
        "losses_finite": all(math.isfinite(v) for v in losses.values())
        and all(row["finite"] == 1 for row in rows),
        "last_losses": {k: v for k, v in rows[-1].items() if k.endswith("loss")},
        "checkpoints": checkpoints,
        "evaluation": {
            key: evaluation.get(key)
            for key in ("split", "step", "num_images", "rmse", "cssim")
            + ("retrieval_top1", "retrieval_top5")
        },
    }


def sample_results(log_text: str, product: Path) -> dict[str, Any]:
    """Which checkpoint `pldt_jax.sample` restored, and what it wrote."""
    from PIL import Image

    restored = re.search(r"Converter of step (\d+)", log_text)
    with Image.open(product) as image:
        shape = [image.height, image.width, len(image.getbands())]
    return {"restored_step": int(restored[1]) if restored else None, "product_shape": shape}
