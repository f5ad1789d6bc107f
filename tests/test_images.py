"""pldt_jax.images: uint8 <-> [-1, 1], PNG files, picture grids."""

import io

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from pldt_jax import images
from pldt_jax_datasets.lookbook import preprocessing


def test_to_float_and_back_are_exact_on_numpy_and_jax():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    floats = images.to_float(pixels)
    assert floats.dtype == np.float32 and floats.min() == -1 and floats.max() == 1
    np.testing.assert_array_equal(images.to_uint8(floats), pixels)
    jax_floats = images.to_float(jnp.asarray(pixels))
    assert jax_floats.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(images.to_uint8(jax_floats)), pixels)
    np.testing.assert_array_equal(images.to_uint8(np.array([-3.0, 2.0, 0.0])), [0, 255, 128])


def test_png_is_lossless_and_save_creates_folders(tmp_path):
    array = np.random.default_rng(2).integers(0, 255, (8, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(preprocessing.encode_png(array)))), array
    )
    path = tmp_path / "samples" / "step_1.png"
    images.save_png(array, path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), array)
    with pytest.raises(ValueError, match="uint8"):
        images.save_png(array.astype(np.float32), path)


def test_image_grid_tiles_with_white_padding():
    black = np.zeros((4, 5, 3), np.uint8)
    grey = np.full((4, 5, 3), 100, np.uint8)
    grid = images.image_grid([[black, grey, black], np.stack([grey])], pad=2)
    assert grid.shape == (2 * 4 + 3 * 2, 3 * 5 + 4 * 2, 3) and grid.dtype == np.uint8
    assert (grid[2:6, 2:7] == 0).all() and (grid[2:6, 9:14] == 100).all()
    assert (grid[8:12, 2:7] == 100).all()
    assert (grid[8:12, 9:] == 255).all()  # The short row is filled with white.
    assert (grid[:2] == 255).all() and (grid[:, :2] == 255).all()
    with pytest.raises(ValueError, match="same shape"):
        images.image_grid([[black, np.zeros((3, 3, 3), np.uint8)]])


def test_enlarged_repeats_each_pixel_as_pil_nearest_does():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    big = images.enlarged(image, 3)
    assert big.shape == (15, 21, 3)
    np.testing.assert_array_equal(big[::3, ::3], image)
    pil = Image.fromarray(image).resize((21, 15), Image.Resampling.NEAREST)
    np.testing.assert_array_equal(big, np.asarray(pil))
