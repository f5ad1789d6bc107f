"""A trained converter turning photos into product images: the one path of training's sample
grids, the evaluation and `python -m pldt_jax.sample`.

Batch norm runs in inference mode (running statistics); the outputs are returned as the
uint8 pictures a user gets, except by `generate` itself.
"""

from pathlib import Path

import jax
import numpy as np

from pldt_jax import images, input_pipeline, split_arrays
from pldt_jax.images import to_float
from pldt_jax.train_step import TrainState
from pldt_jax_datasets.lookbook.preprocessing import load_and_preprocess


@jax.jit
def generate(converter: TrainState, source: jax.Array) -> jax.Array:
    """uint8 photos -> generated product images in [-1, 1], batch norm in inference mode."""
    variables = {"params": converter.params, "batch_stats": converter.batch_stats}
    return converter.apply_fn(variables, to_float(source), train=False)


def generate_split(
    converter: TrainState, split: split_arrays.SplitArrays, batch_size: int
) -> np.ndarray:
    """Generated images for every source of the split, as uint8 like a saved product image."""
    batches = input_pipeline.eval_batches(split, batch_size)
    return np.concatenate(
        [images.to_uint8(np.asarray(generate(converter, batch["source"]))) for batch in batches]
    )


def convert_image(converter: TrainState, path: Path, resolution: int) -> np.ndarray:
    """One photo file -> its generated product image, uint8 (R, R, 3); the photo is preprocessed
    exactly like a training photo."""
    photo = load_and_preprocess(path, resolution)
    generated = generate(converter, photo[None])
    return images.to_uint8(np.asarray(generated[0]))
