"""Turn photos into product images with a trained converter.

python -m pldt_jax.sample --workdir=DIR --input=PHOTO_OR_FOLDER --output=PNG_OR_FOLDER

The photo is preprocessed exactly like a training photo (longer side to the
model's resolution, white margins) and the converter of the latest checkpoint
runs on the CPU, whatever it was trained on. In a folder, a file that can't be
used is reported and the others are still converted; the exit status is then 1.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import jax
from absl import flags, logging

from pldt_jax import checkpoints, errors, images, inference
from pldt_jax_datasets.lookbook.preprocessing import ImageError


def plan(input_path: Path, output_path: Path) -> list[tuple[Path, Path]]:
    """(photo, output PNG) pairs: one file, or every non-hidden file of a folder."""
    if input_path.is_dir():
        files = sorted(
            p for p in input_path.iterdir() if p.is_file() and not p.name.startswith(".")
        )
        return [(p, output_path / f"{p.stem}.png") for p in files]
    if not input_path.exists():
        raise errors.Error(f"no such file or folder: {input_path}")
    if output_path.is_dir():
        return [(input_path, output_path / f"{input_path.stem}.png")]
    return [(input_path, output_path)]


def sample(workdir: str, input_path: str, output_path: str) -> list[tuple[Path, str]]:
    """Converts every photo; returns the (file, reason) of each that failed."""
    jobs = plan(Path(input_path), Path(output_path))
    step, converter, config = checkpoints.restore_network(
        os.path.join(workdir, "checkpoints"), device=jax.devices("cpu")[0]
    )
    logging.info("Converter of step %d, %d px.", step, config.resolution)
    if Path(input_path).is_dir():
        Path(output_path).mkdir(parents=True, exist_ok=True)
    failures = []
    for photo, target in jobs:
        try:
            product = inference.convert_image(converter, photo, config.resolution)
        except ImageError as error:
            failures.append((photo, str(error)))
            continue
        images.save_png(product, target)
        logging.info("%s -> %s", photo, target)
    return failures


def main(argv: Sequence[str]) -> None:
    del argv  # No positional arguments (cli.run refuses them).
    failures = sample(flags.FLAGS.workdir, flags.FLAGS.input, flags.FLAGS.output)
    if failures:
        lines = "\n".join(f"  {path}: {reason}" for path, reason in failures)
        raise errors.Error(f"{len(failures)} file(s) could not be converted:\n{lines}")


if __name__ == "__main__":
    from pldt_jax import cli

    flags.DEFINE_string("workdir", None, "Work dir of a training run.", required=True)
    flags.DEFINE_string("input", None, "A photo (jpg, png, webp, ...) or a folder.", required=True)
    flags.DEFINE_string("output", None, "Output PNG, or a folder for a folder.", required=True)
    cli.run(main)
