"""The dataset's preprocessing: guarded decoding, every mode to RGB, the paper's rescale-and-pad."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lookbook_archives import encoded, png_header_only
from PIL import Image

from pldt_jax_datasets.lookbook import preprocessing


def rgba_half_red() -> Image.Image:
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 128))
    image.putpixel((0, 0), (0, 0, 0, 0))  # Fully transparent: must become white.
    return image


def palette_with_transparency() -> Image.Image:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.info["transparency"] = 0
    return image


MODES = {
    # name: (encoded file, expected RGB at (1, 1), expected RGB at (0, 0))
    "L": (encoded(Image.new("L", (4, 4), 100), "PNG"), (100, 100, 100), (100, 100, 100)),
    "LA": (encoded(Image.new("LA", (4, 4), (0, 0)), "PNG"), (255, 255, 255), (255, 255, 255)),
    "RGBA": (encoded(rgba_half_red(), "PNG"), (255, 127, 127), (255, 255, 255)),
    "P": (encoded(palette_with_transparency(), "PNG"), (0, 0, 255), (255, 255, 255)),
    "1": (encoded(Image.new("1", (4, 4), 1), "PNG"), (255, 255, 255), (255, 255, 255)),
    "CMYK": (
        encoded(Image.new("CMYK", (4, 4), (0, 255, 255, 0)), "JPEG", quality=100),
        (255, 0, 0),
        (255, 0, 0),
    ),
    "I;16": (
        encoded(Image.fromarray(np.full((4, 4), 257 * 200, np.uint16)), "PNG"),
        (200, 200, 200),
        (200, 200, 200),
    ),
    "I": (
        encoded(Image.fromarray(np.full((4, 4), 65535, np.int32)), "TIFF"),
        (255, 255, 255),
        (255, 255, 255),
    ),
    "F": (
        encoded(Image.fromarray(np.full((4, 4), 0.5, np.float32)), "TIFF"),
        (128, 128, 128),
        (128, 128, 128),
    ),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_becomes_rgb_with_transparency_over_white(mode):
    data, inner, corner = MODES[mode]
    assert Image.open(io.BytesIO(data)).mode.startswith(mode)
    image = preprocessing.load_image(data)
    assert image.mode == "RGB"
    np.testing.assert_allclose(image.getpixel((1, 1)), inner, atol=3)
    np.testing.assert_allclose(image.getpixel((0, 0)), corner, atol=3)
    assert preprocessing.preprocess(image, 64).dtype == np.uint8


def test_load_image_reads_paths_and_applies_exif_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # Rotate 90 degrees clockwise to display.
    path = tmp_path / "rotated.jpg"
    path.write_bytes(encoded(Image.new("RGB", (40, 20), (0, 200, 0)), "JPEG", exif=exif))
    assert preprocessing.load_image(path).size == (20, 40)
    assert preprocessing.load_image(str(path)).size == (20, 40)


def valid_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    return encoded(Image.fromarray(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)), "JPEG")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty file"),
        (b"this is not an image at all", "not an image"),
        (valid_jpeg()[: len(valid_jpeg()) // 2], "corrupt"),
        (png_header_only(10_000, 10_000), "too large"),  # Over MAX_PIXELS, under Pillow's.
        (png_header_only(30_000, 30_000), "too large"),  # Pillow's DecompressionBombError.
        (png_header_only(0, 10), "not an image"),
        (b"GIF89a" + b"\x00" * 20, "not an image"),
    ],
    ids=["empty", "garbage", "truncated", "bomb", "bigger-bomb", "zero-size", "bad-gif"],
)
def test_bad_files_raise_image_error_with_a_kind(data, kind):
    with pytest.raises(preprocessing.ImageError) as raised:
        preprocessing.load_image(data)
    assert raised.value.kind == kind
    assert str(raised.value)


def test_missing_file_raises_image_error(tmp_path):
    with pytest.raises(preprocessing.ImageError, match="cannot read"):
        preprocessing.load_image(tmp_path / "nope.jpg")


def test_image_error_survives_pickling():
    import pickle

    error = pickle.loads(pickle.dumps(preprocessing.ImageError("why", kind="corrupt")))
    assert (str(error), error.kind) == ("why", "corrupt")


@pytest.mark.parametrize(
    ("size", "content_box"),
    [
        ((100, 50), (0, 16, 64, 48)),  # Landscape: margins top and bottom.
        ((50, 100), (16, 0, 48, 64)),  # Portrait: margins left and right.
        ((300, 100), (0, 21, 64, 42)),  # 64 x 21.33 -> 21 rows, 21 above and 22 below.
        ((10, 10), (0, 0, 64, 64)),  # Small images are enlarged too.
    ],
)
def test_preprocess_fits_the_longer_side_and_pads_white(size, content_box):
    array = preprocessing.preprocess(Image.new("RGB", size, (0, 0, 0)), 64)
    assert array.shape == (64, 64, 3) and array.dtype == np.uint8
    left, top, right, bottom = content_box
    assert (array[top:bottom, left:right] == 0).all()
    margin = np.ones((64, 64), bool)
    margin[top:bottom, left:right] = False
    assert (array[margin] == 255).all()


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 400),
    height=st.integers(1, 400),
    resolution=st.sampled_from([64, 128]),
)
def test_preprocess_keeps_aspect_ratio_and_centres(width, height, resolution):
    array = preprocessing.preprocess(Image.new("RGB", (width, height), (0, 0, 0)), resolution)
    assert array.shape == (resolution, resolution, 3)
    rows = np.flatnonzero((array < 128).any(axis=(1, 2)))
    cols = np.flatnonzero((array < 128).any(axis=(0, 2)))
    scale = resolution / max(width, height)
    assert max(len(rows), len(cols)) == resolution
    assert abs(len(cols) - width * scale) <= 1 and abs(len(rows) - height * scale) <= 1
    # Centred: the two margins differ by at most one pixel.
    assert abs(rows[0] - (resolution - 1 - rows[-1])) <= 1
    assert abs(cols[0] - (resolution - 1 - cols[-1])) <= 1
    assert (array[array.min(axis=-1) >= 128] == 255).all()  # Margins are pure white.


def test_load_and_preprocess_matches_the_two_steps():
    rng = np.random.default_rng(1)
    photo = encoded(Image.fromarray(rng.integers(0, 255, (400, 300, 3), np.uint8)), "JPEG")
    small = encoded(Image.new("RGB", (90, 120), (10, 200, 30)), "JPEG")
    for data in (photo, small):
        two_steps = preprocessing.preprocess(preprocessing.load_image(data), 64).astype(int)
        one_step = preprocessing.load_and_preprocess(data, 64).astype(int)
        # JPEG draft decoding at reduced scale may change a pixel slightly, never the picture.
        assert np.abs(two_steps - one_step).mean() < 3
