"""python -m pldt_jax.prepare --config=configs/lookbook.py

Builds the LookBook dataset a config names (`config.dataset.source` at
`config.resolution`) into the TFDS data dir, without TensorFlow (`tfds build`
imports it). Training calls the same functions, so this step is optional: it
only lets the (one-time) build run apart from training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ml_collections
import tensorflow_datasets as tfds
from absl import flags
from ml_collections import config_flags

from pldt_jax import config as config_lib
from pldt_jax import errors, split_arrays
from pldt_jax_datasets.lookbook import lookbook_dataset_builder as lookbook
from pldt_jax_datasets.lookbook.archive import LookBookError
from pldt_jax_datasets.lookbook.pairing import SPLITS


class DatasetError(errors.Error):
    """The dataset cannot be built: no archive (the message says how to get one), or nothing
    usable in it (the message has the skip report)."""


def get_builder(config: ml_collections.ConfigDict) -> lookbook.Builder:
    """The LookBook builder for the config's source and resolution (nothing is built)."""
    return lookbook.Builder(
        config=lookbook.builder_config_name(config.dataset.source, config.resolution),
        data_dir=config.dataset.data_dir or None,
    )


def ensure_prepared(config: ml_collections.ConfigDict) -> lookbook.Builder:
    """The builder, with its dataset built first if it is not there yet.

    Synthetic sources generate their archive; 'real' reads the LookBook archive
    from `config.dataset.manual_dir` (default `<data_dir>/downloads/manual`) and
    raises `DatasetError`, saying how to get it, when it is not there (and when nothing in it
    is usable).
    """
    builder = get_builder(config)
    if not builder.is_prepared():
        manual_dir = config.dataset.manual_dir or None
        try:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
            )
        except LookBookError as error:
            raise DatasetError(str(error)) from error
    return builder


def load_data_sources(config: ml_collections.ConfigDict) -> dict[str, Sequence[dict]]:
    """Random-access data sources (`len`, `[i]`) for train, validation and test."""
    builder = ensure_prepared(config)
    return {split: builder.as_data_source(split=split) for split in SPLITS}


def load_splits(
    config: ml_collections.ConfigDict, names: Sequence[str]
) -> dict[str, split_arrays.SplitArrays]:
    """The named splits in memory (`split_arrays.load_split`), in the config's direction.

    Product images are read encoded and decoded once per distinct image: every photo's record
    repeats its product's image and a negative's, and decoding those per record took half the
    time of loading a split (40 s for the 62,041 train records of synthetic_full at 64 px).
    """
    builder = ensure_prepared(config)
    encoded = {key: tfds.decode.SkipDecoding() for key in ("target", "negative")}
    features = builder.info.features
    return {
        name: split_arrays.orient(
            split_arrays.load_split(
                builder.as_data_source(split=name, decoders=encoded),
                decode_image=features["target"].decode_example_np,
            ),
            config.dataset.direction,
        )
        for name in dict.fromkeys(names)
    }


def main(argv: Sequence[str], config: ml_collections.ConfigDict) -> None:
    del argv  # No positional arguments (cli.run refuses them).
    # The device count only matters to training's batch split: any count will do here.
    config_lib.validate(config, device_count=1)
    builder = ensure_prepared(config)
    sizes = ", ".join(f"{split} {builder.info.splits[split].num_examples}" for split in SPLITS)
    print(f"LookBook {builder.builder_config.name} in {Path(builder.data_dir)}: {sizes} examples")


if __name__ == "__main__":
    from pldt_jax import cli

    # Defined here, not at import: `pldt_jax.main` imports this module and has its own --config.
    _CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.")
    flags.mark_flags_as_required(["config"])
    cli.run(lambda argv: main(argv, _CONFIG.value))
