"""Properties, over random inputs, of the preprocessing and the product split.

The example-based tests pin particular cases; these check that the section 5.2
preprocessing holds for any size, aspect ratio and Pillow mode, and that the split
of a product depends on its id (and the seed) alone.
"""

import collections
import io

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from pldt_jax_datasets.lookbook import pairing, preprocessing
from pldt_jax_datasets.lookbook.archive import Member

PROPERTY_SETTINGS = settings(max_examples=50, deadline=None)
RESOLUTIONS = st.sampled_from([64, 128])
SIZES = st.tuples(st.integers(1, 400), st.integers(1, 400))

# One pixel value per mode; dark enough that the content stands out from white margins.
DARK = st.integers(0, 230)
PIXEL_VALUES = {
    "RGB": st.tuples(DARK, DARK, DARK),
    "L": DARK,
    "LA": st.tuples(DARK, st.integers(128, 255)),
    "RGBA": st.tuples(DARK, DARK, DARK, st.integers(128, 255)),
    "P": st.tuples(DARK, DARK, DARK),  # The palette's colour 0.
    "CMYK": st.tuples(*[st.integers(0, 255)] * 3, st.integers(30, 255)),
    "I;16": st.integers(0, 59_000),
    "I": st.integers(0, 59_000),
    "F": st.floats(0, 230),
}


def constant_image(mode: str, size: tuple[int, int], value) -> Image.Image:
    if mode == "P":
        image = Image.new("P", size, 0)
        image.putpalette(list(value))
        return image
    return Image.new(mode, size, value)


@st.composite
def constant_images(draw, modes=tuple(PIXEL_VALUES)) -> Image.Image:
    mode = draw(st.sampled_from(modes))
    return constant_image(mode, draw(SIZES), draw(PIXEL_VALUES[mode]))


def check_preprocessed(array: np.ndarray, size: tuple[int, int], colour: np.ndarray, tol: int):
    """Section 5.2 on a constant-colour picture of `size`: longer side to R, white margins
    centred, aspect ratio kept, the colour unchanged in the content area (within `tol`)."""
    resolution = array.shape[0]
    assert array.shape == (resolution, resolution, 3) and array.dtype == np.uint8
    assume(colour.min() <= 240)  # Else the content cannot be told from the margins.
    content = np.abs(array.astype(int) - 255).max(axis=-1) > tol
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    width, height = size
    scale = resolution / max(width, height)
    assert max(bottom - top, right - left) == resolution
    assert abs((right - left) - width * scale) <= 1 and abs((bottom - top) - height * scale) <= 1
    assert abs(top - (resolution - bottom)) <= 1 and abs(left - (resolution - right)) <= 1
    margins = np.ones((resolution, resolution), bool)
    margins[top:bottom, left:right] = False
    assert (array[margins] == 255).all()
    assert np.abs(array[top:bottom, left:right].astype(int) - colour).max() <= tol


def rgb_of(image: Image.Image) -> np.ndarray:
    """The one colour of a constant image, as `to_rgb` renders its mode."""
    return np.asarray(preprocessing.to_rgb(image.crop((0, 0, 1, 1))), int)[0, 0]


@PROPERTY_SETTINGS
@given(image=constant_images(), resolution=RESOLUTIONS)
def test_preprocess_any_mode_size_and_aspect(image, resolution):
    array = preprocessing.preprocess(image, resolution)
    check_preprocessed(array, image.size, rgb_of(image), tol=1)


@PROPERTY_SETTINGS
@given(
    image=constant_images(modes=("RGB", "L", "LA", "RGBA", "P", "I;16")),
    resolution=RESOLUTIONS,
)
def test_png_round_trip_is_lossless(image, resolution):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    decoded = preprocessing.load_image(buffer.getvalue())
    assert decoded.mode == "RGB" and decoded.size == image.size
    np.testing.assert_array_equal(np.asarray(decoded), np.asarray(preprocessing.to_rgb(image)))
    array = preprocessing.load_and_preprocess(buffer.getvalue(), resolution)
    check_preprocessed(array, image.size, rgb_of(image), tol=1)


@PROPERTY_SETTINGS
@given(image=constant_images(modes=("RGB", "L", "CMYK")), resolution=RESOLUTIONS)
def test_jpeg_round_trip_keeps_the_picture(image, resolution):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    decoded = preprocessing.load_image(buffer.getvalue())
    assert decoded.mode == "RGB" and decoded.size == image.size
    # Lossy, and reduced-scale decoding (min_size) changes nothing of the geometry.
    array = preprocessing.load_and_preprocess(buffer.getvalue(), resolution)
    check_preprocessed(array, image.size, rgb_of(image), tol=6)


@settings(max_examples=50, deadline=None)
@given(product_id=st.integers(0, 10**12))
def test_split_is_one_deterministic_split_per_id(product_id):
    split = pairing.split_of(product_id)
    assert split in pairing.SPLITS
    assert all(pairing.split_of(product_id) == split for _ in range(3))


def plan(product_ids: set[int]) -> dict[str, list[int]]:
    """plan_splits' product ids per split, each product with one photo."""
    photos = [
        pairing.Photo(i, pid, Member(f"{pid}.jpg", "file", 1, i, None))
        for i, pid in enumerate(sorted(product_ids))
    ]
    return {split: ids for split, (ids, _) in pairing.plan_splits(product_ids, photos).items()}


BASE_PRODUCTS = frozenset(range(1, 201))  # Enough for two products in every split.


@settings(max_examples=50, deadline=None)
@given(added=st.sets(st.integers(0, 10**9), max_size=200))
def test_adding_products_moves_no_product_to_another_split(added):
    before, after = plan(set(BASE_PRODUCTS)), plan(BASE_PRODUCTS | added)
    for split in pairing.SPLITS:
        assert [pid for pid in after[split] if pid in BASE_PRODUCTS] == before[split]
    # Exactly one split per product.
    everything = [pid for ids in after.values() for pid in ids]
    assert sorted(everything) == sorted(BASE_PRODUCTS | added)
    assert all(pairing.split_of(pid) == s for s, ids in after.items() for pid in ids)


@settings(max_examples=50, deadline=None)
@given(seeds=st.lists(st.integers(0, 2**32), min_size=2, max_size=2, unique=True))
def test_another_seed_gives_another_split(seeds):
    first, second = ([pairing.split_of(pid, seed=s) for pid in range(1000)] for s in seeds)
    assert first != second


@pytest.mark.parametrize("seed", [pairing.SPLIT_SEED, 7])
def test_split_proportions_are_90_5_5(seed):
    num = 200_000
    counts = collections.Counter(pairing.split_of(pid, seed) for pid in range(10**6, 10**6 + num))
    # Binomial standard deviation at 5 % of 200,000 is 0.05 %: 6 of them.
    for split, fraction in pairing.SPLIT_FRACTIONS.items():
        assert abs(counts[split] / num - fraction) < 0.003, (split, counts)
