"""python -m pldt_jax.prepare --config=configs/lookbook.py

Builds the LookBook dataset a config names (`config.dataset.source` at
`config.resolution`) into the TFDS data dir, without TensorFlow (`tfds build`
imports it). Training calls the same functions, so this step is optional: it
only lets the (one-time) build run apart from training.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import ml_collections
import tensorflow_datasets as tfds
from absl import app, flags
from ml_collections import config_flags

from pldt_jax import logs
from pldt_jax_datasets.lookbook import lookbook_dataset_builder as lookbook

# Re-exported: callers of this module need not know where the builder lives.
DatasetMissingError = lookbook.DatasetMissingError
LookBookArchiveError = lookbook.LookBookArchiveError
builder_config_name = lookbook.builder_config_name
SPLITS = lookbook.SPLITS


def get_builder(config: ml_collections.ConfigDict) -> lookbook.Builder:
    """The LookBook builder for the config's source and resolution (nothing is built)."""
    return lookbook.Builder(
        config=builder_config_name(config.dataset.source, config.resolution),
        data_dir=config.dataset.data_dir or None,
    )


def ensure_prepared(config: ml_collections.ConfigDict) -> lookbook.Builder:
    """The builder, with its dataset built first if it is not there yet.

    Synthetic sources generate their archive; 'real' reads the LookBook archive
    from `config.dataset.manual_dir` (default `<data_dir>/downloads/manual`) and
    raises `DatasetMissingError`, saying how to get it, when it is not there.
    """
    builder = get_builder(config)
    if not builder.is_prepared():
        manual_dir = config.dataset.manual_dir or None
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
        )
    return builder


def load_data_sources(config: ml_collections.ConfigDict) -> dict[str, Sequence[dict]]:
    """Random-access data sources (`len`, `[i]`) for train, validation and test."""
    builder = ensure_prepared(config)
    return {split: builder.as_data_source(split=split) for split in SPLITS}


def main(argv: Sequence[str], config: ml_collections.ConfigDict) -> None:
    logs.quiet_library_logs()
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        builder = ensure_prepared(config)
    except (DatasetMissingError, LookBookArchiveError) as error:
        sys.exit(f"error: {error}")
    sizes = ", ".join(f"{split} {builder.info.splits[split].num_examples}" for split in SPLITS)
    print(f"LookBook {builder.builder_config.name} in {Path(builder.data_dir)}: {sizes} examples")


if __name__ == "__main__":
    # Defined here, not at import: `pldt_jax.main` imports this module and has its own --config.
    _CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.")
    flags.mark_flags_as_required(["config"])
    app.run(lambda argv: main(argv, _CONFIG.value))
