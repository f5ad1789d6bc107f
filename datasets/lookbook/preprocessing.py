"""Decoding, guarded against bad files, and the paper's preprocessing (section 5.2).

One path decodes and rescales every picture: the builder's archive members and a user's photo
given to `python -m pldt_jax.sample` alike, so the latter is treated exactly like a LookBook
training photo: `load_and_preprocess(source, resolution)`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# A guard against decompression bombs: LookBook pictures are well under a megapixel,
# a phone photo is about 12-50 megapixels. Below Pillow's own limit (89 MP), so that
# Pillow never lets a bomb through with a mere warning.
MAX_PIXELS = 64_000_000

# Pillow decodes dozens of formats; the ones photos come in are enough, and each
# extra decoder is extra attack surface for files from the internet. (JPEG covers MPO.)
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

_WHITE = 255
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


class ImageError(ValueError):
    """A file that cannot be used as an image, with a human-readable reason.

    `kind` is a short category ("empty file", "too large", ...) for counting
    skipped files; the message has the details.
    """

    def __init__(self, message: str, kind: str = "unreadable image"):
        super().__init__(message)
        self.kind = kind


def load_image(source: str | os.PathLike | bytes, *, min_size: int | None = None) -> Image.Image:
    """Decodes `source` fully into an upright RGB image, or raises `ImageError`.

    Transparency is composited over white, the margin colour of `preprocess`.
    `min_size` lets JPEGs decode at a reduced scale (DCT scaling, much faster)
    while both sides stay at least `min_size` pixels.
    """
    data = _read_bytes(source)
    if not data:
        raise ImageError("empty file", kind="empty file")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageError(str(error), kind="too large") from error
    except Exception as error:  # Pillow raises many types on malformed headers.
        raise ImageError(f"not a supported image: {error}", kind="not an image") from error
    # Pillow only warns between its limit and twice that; this stricter check makes every
    # bomb an error without `warnings.catch_warnings`, which is not thread-safe.
    _check_size(image.size)
    if min_size is not None:
        image.draft("RGB", (min_size, min_size))
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as error:
        raise ImageError(str(error), kind="too large") from error
    except Exception as error:  # Truncated or corrupt data fails in many ways.
        raise ImageError(f"corrupt or truncated image: {error}", kind="corrupt") from error
    return to_rgb(image)


def _read_bytes(source: str | os.PathLike | bytes) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise ImageError(f"cannot read file: {error}", kind="unreadable file") from error


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"image has no pixels ({width}x{height})", kind="corrupt")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"image is {width}x{height}, over the {MAX_PIXELS:,} pixel limit",
            kind="too large",
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Converts any Pillow mode to 8-bit RGB; transparent pixels become white."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        return Image.fromarray(_high_depth_to_uint8(np.asarray(image), image.mode)).convert("RGB")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (_WHITE, _WHITE, _WHITE, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as error:  # e.g. LAB, which Pillow cannot convert.
        raise ImageError(f"unsupported image mode {image.mode}", kind="unsupported mode") from error


def _high_depth_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Maps 16-bit, 32-bit integer and float grey levels to 0..255.

    16-bit data (`I;16*`, and `I` as Pillow opens 16-bit PNGs) spans 0..65535;
    `I` whose values all fit 0..255 is 8-bit data widened; float data in [0, 1]
    is normalised, otherwise read as 0..255.
    """
    values = values.astype(np.float64)
    if mode == "F":
        finite = values[np.isfinite(values)]
        scale = 255.0 if finite.size and finite.min() >= 0 and finite.max() <= 1 else 1.0
        values = np.nan_to_num(values, nan=0.0) * scale
    elif mode.startswith("I;16") or values.max(initial=0) > 255:
        values = values / 257.0
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def preprocess(image: Image.Image, resolution: int) -> np.ndarray:
    """The paper's section 5.2: longer side to `resolution`, white margins to a square.

    Returns uint8 (resolution, resolution, 3), the image centred.
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    image = to_rgb(image)
    width, height = image.size
    scale = resolution / max(width, height)
    size = (
        min(resolution, max(1, round(width * scale))),
        min(resolution, max(1, round(height * scale))),
    )
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    canvas = np.full((resolution, resolution, 3), _WHITE, dtype=np.uint8)
    top = (resolution - size[1]) // 2
    left = (resolution - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = np.asarray(image)
    return canvas


def load_and_preprocess(source: str | os.PathLike | bytes, resolution: int) -> np.ndarray:
    """`load_image` then `preprocess`: the one path for dataset and user photos alike."""
    return preprocess(load_image(source, min_size=resolution), resolution)


def encode_png(array: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 (H, W, 3) array, as `preprocess` returns."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
