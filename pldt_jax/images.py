"""Pixels for the networks and for people: uint8 <-> [-1, 1], PNG files, picture grids.

Decoding and the paper's preprocessing belong to the dataset
(`pldt_jax_datasets.lookbook.preprocessing`), which training and sampling share.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

_WHITE = 255


def to_float(x):
    """uint8 pixels -> float32 in [-1, 1], the range of the converter's tanh.

    Works on NumPy and JAX arrays alike. NumPy works in place on one new array,
    3.5x faster than the three batch-sized allocations of the plain expression; XLA
    may divide by multiplying with the reciprocal, so host and device results can
    differ by one float32 ulp.
    """
    if isinstance(x, np.ndarray):
        result = x.astype(np.float32)
        result /= 127.5
        result -= 1
        return result
    return x.astype(np.float32) / 127.5 - 1.0


def to_uint8(x):
    """float pixels in [-1, 1] -> uint8, clipped and rounded. NumPy or JAX arrays."""
    return ((x + 1.0) * 127.5).clip(0, 255).round().astype(np.uint8)


def save_png(array: np.ndarray, path: str | os.PathLike) -> None:
    """Writes a uint8 HxWx3 (or HxW grey) array as a lossless PNG, creating parent folders
    (e.g. `samples/`)."""
    array = _as_uint8_image(array)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _as_uint8_image(array) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {array.dtype}; use to_uint8 first")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)):
        raise ValueError(f"expected an HxWx3 or HxW image, got shape {array.shape}")
    return array


def enlarged(image: np.ndarray, factor: int) -> np.ndarray:
    """The (H, W, C) image `factor` times larger, each pixel a block (nearest neighbour): the
    model's 64 or 128 px pictures as they are, at a size a screen or a grid shows."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def image_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2) -> np.ndarray:
    """Tiles equally sized HxWx3 uint8 images into one picture, white between and around.

    Each row is a sequence (or an (N, H, W, 3) array) of images; short rows are
    filled with white, as for the (photo | true product | generated) sample grids.
    """
    images = [[_as_rgb_tile(image) for image in row] for row in rows]
    if not any(images):
        raise ValueError("image_grid needs at least one image")
    shapes = {image.shape for row in images for image in row}
    if len(shapes) != 1:
        raise ValueError(f"all images must have the same shape, got {sorted(shapes)}")
    height, width, _ = shapes.pop()
    num_cols = max(len(row) for row in images)
    grid = np.full(
        (
            len(images) * (height + pad) + pad,
            num_cols * (width + pad) + pad,
            3,
        ),
        _WHITE,
        dtype=np.uint8,
    )
    for i, row in enumerate(images):
        for j, image in enumerate(row):
            top = pad + i * (height + pad)
            left = pad + j * (width + pad)
            grid[top : top + height, left : left + width] = image
    return grid


def _as_rgb_tile(image) -> np.ndarray:
    image = _as_uint8_image(image)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image
