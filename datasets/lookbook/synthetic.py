"""Synthetic LookBook: a stand-in archive in the real LookBook file format.

The real archive cannot be downloaded everywhere, so training, tests and the TFDS builder run on
this one. Every product has known attributes (category, colour, pattern, pattern colour); it gets
one clean product shot (``CLEAN1``) and 3 to 12 photos of a person wearing it (``CLEAN0``). The
garment on the person is drawn from the same geometry and pattern as the product shot, so a human
can match them, while pose, framing, skin, background, lighting and JPEG quality vary per photo.

Output is byte-identical for a seed: every product draws from its own ``numpy`` stream, tar
headers are fixed and the JPEG quality comes from the stream.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
import pathlib
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from pldt_jax_datasets.lookbook.taxonomy import (
    ATTRIBUTES,
    ATTRIBUTES_FILENAME,
    CATEGORIES,
    COLOR_RGB,
    COLORS,
    PATTERNS,
)


class SizeSpec(NamedTuple):
    """How many products and person photos an archive holds."""

    num_products: int
    num_photos: int


# "full" has the counts of the public LookBook archive; "small" and "medium" keep its
# photos-per-product ratio ("medium": enough products to train and test on in a CPU budget).
SIZES: dict[str, SizeSpec] = {
    "small": SizeSpec(600, 4732),
    "medium": SizeSpec(2400, 18928),
    "full": SizeSpec(8726, 68820),
}
MIN_PHOTOS, MAX_PHOTOS = 3, 12


class Product(NamedTuple):
    """One product's labels (indices into CATEGORIES / COLORS / PATTERNS) and its photo count."""

    product_id: int
    category: int
    color: int
    pattern: int
    pattern_color: int
    num_photos: int


class SyntheticArchive(NamedTuple):
    tar_path: pathlib.Path
    attributes_path: pathlib.Path


ATTRIBUTE_FIELDS = ("product_id", *ATTRIBUTES)
TAR_NAME = "lookbook.tar"
MANIFEST_NAME = "lookbook_synthetic.json"
# Bump when rendering changes, so archives cached by an older generator are rebuilt.
_GENERATOR_VERSION = 1
_MTIME = 1_470_000_000  # fixed tar member time (2016, the paper's year): reproducible bytes
_PRODUCT_QUALITY = 90
_POOL_MIN_PRODUCTS = 2000  # below this a worker pool costs more than it saves

# Independent random streams per product: default_rng((seed, product_id, stream[, photo])).
_ATTRIBUTE_STREAM, _STYLE_STREAM, _SHOT_STREAM, _PHOTO_STREAM = range(4)
_COUNT_STREAM = 4  # default_rng((seed, _COUNT_STREAM)): the archive-wide photo-count fix-up

_PALETTE = np.array([rgb for _, rgb in COLOR_RGB], dtype=np.float32)
_MIN_PATTERN_CONTRAST = 120.0  # RGB distance, so a pattern stays visible on its base colour

# Garment geometry is in "frame units": one unit is the shoulder width, the origin is the base of
# the neck, v points down. Product shots and person photos share it, so they match.
_T_SHIRT, _LONG_SLEEVE, _SLEEVELESS, _JACKET = range(len(CATEGORIES))
_SLEEVE = {  # category -> (length along the arm, width); 0 length = no sleeve
    _T_SHIRT: (0.42, 0.34),
    _LONG_SLEEVE: (1.38, 0.26),
    _SLEEVELESS: (0.0, 0.0),
    _JACKET: (1.38, 0.29),
}
_FLAT_SLEEVE_ANGLE = {_T_SHIRT: 55.0, _LONG_SLEEVE: 18.0, _SLEEVELESS: 0.0, _JACKET: 20.0}
_SHOULDER = (0.46, 0.15)  # right arm joint; the left one is mirrored
_UPPER_ARM, _FOREARM, _ARM_WIDTH = 0.75, 0.68, 0.19
_FIGURE_TOP, _FIGURE_BOTTOM = -0.66, 3.45  # top of the head and soles, in frame units
_SKIN_TONES = np.array(
    [
        (255, 224, 196),
        (241, 194, 160),
        (224, 172, 105),
        (198, 134, 66),
        (141, 85, 36),
        (92, 58, 36),
    ],
    dtype=np.float32,
)
_HAIR = np.array([(20, 16, 14), (60, 40, 25), (110, 75, 40), (200, 170, 110), (130, 40, 20)])
_TROUSERS = np.array([(40, 60, 110), (70, 95, 140), (25, 25, 28), (170, 150, 110), (110, 110, 115)])
_LOGO_SHAPES = ("disc", "ring", "square", "diamond", "triangle", "cross")

Point = tuple[float, float]


class _Style(NamedTuple):
    """A product's look beyond its labels; drawn once so every image of it agrees."""

    rgb: np.ndarray
    pattern_rgb: np.ndarray
    length: float  # neck to hem
    hem: float  # half width at the hem
    period: float  # of stripes, dots and checks
    duty: float  # share of a period in the pattern colour
    phase_u: float
    phase_v: float
    logo: str
    logo_radius: float


class _Frame(NamedTuple):
    """Where frame units land in an image: neck base at (x, y), `scale` px per unit, tilt."""

    x: float
    y: float
    scale: float
    angle: float


class _Part(NamedTuple):
    """A shape in frame units: a filled polygon, or a polyline of `width` (arms, sleeves)."""

    points: tuple[Point, ...]
    width: float = 0.0


def _resolve(size: str | SizeSpec) -> SizeSpec:
    return size if isinstance(size, SizeSpec) else SIZES[size]


def _contrasting(color: int) -> np.ndarray:
    distance = np.linalg.norm(_PALETTE - _PALETTE[color], axis=1)
    return np.flatnonzero(distance > _MIN_PATTERN_CONTRAST)


def _draft(seed: int, product_id: int) -> Product:
    """A product's labels and unadjusted photo count, from its own stream."""
    rng = np.random.default_rng((seed, product_id, _ATTRIBUTE_STREAM))
    color = int(rng.integers(len(COLORS)))
    return Product(
        product_id=product_id,
        category=int(rng.integers(len(CATEGORIES))),
        color=color,
        pattern=int(rng.integers(len(PATTERNS))),
        pattern_color=int(rng.choice(_contrasting(color))),
        num_photos=int(rng.integers(MIN_PHOTOS, MAX_PHOTOS + 1)),
    )


def _fit_counts(counts: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Move counts one by one (in a seeded product order) until they sum to `total`."""
    if not MIN_PHOTOS * len(counts) <= total <= MAX_PHOTOS * len(counts):
        raise ValueError(f"{total} photos cannot be split over {len(counts)} products")
    counts = counts.copy()
    order = rng.permutation(len(counts))
    step = 1 if total > counts.sum() else -1
    while (missing := abs(total - int(counts.sum()))) > 0:
        moved = counts[order] + step
        movable = order[(moved >= MIN_PHOTOS) & (moved <= MAX_PHOTOS)]
        counts[movable[:missing]] += step
    return counts


def plan(size: str | SizeSpec = "small", seed: int = 0) -> list[Product]:
    """Every product's labels and photo count, without rendering (cheap even for "full")."""
    spec = _resolve(size)
    drafts = [_draft(seed, product_id) for product_id in range(spec.num_products)]
    counts = _fit_counts(
        np.array([d.num_photos for d in drafts]),
        spec.num_photos,
        np.random.default_rng((seed, _COUNT_STREAM)),
    )
    return [d._replace(num_photos=int(n)) for d, n in zip(drafts, counts, strict=True)]


def _style(seed: int, product: Product) -> _Style:
    rng = np.random.default_rng((seed, product.product_id, _STYLE_STREAM))
    jitter = rng.uniform(-12, 12, (2, 3))
    return _Style(
        rgb=np.clip(_PALETTE[product.color] + jitter[0], 0, 255),
        pattern_rgb=np.clip(_PALETTE[product.pattern_color] + jitter[1], 0, 255),
        length=float(rng.uniform(1.3, 1.6)),
        hem=float(rng.uniform(0.44, 0.56)),
        period=float(rng.uniform(0.2, 0.36)),
        duty=float(rng.uniform(0.35, 0.55)),
        phase_u=float(rng.uniform()),
        phase_v=float(rng.uniform()),
        logo=_LOGO_SHAPES[int(rng.integers(len(_LOGO_SHAPES)))],
        logo_radius=float(rng.uniform(0.15, 0.22)),
    )


# --- geometry (frame units) -------------------------------------------------------------------


def _mirror(points: Sequence[Point]) -> list[Point]:
    return [(-u, v) for u, v in reversed(points)]


def _ellipse(cu: float, cv: float, ru: float, rv: float, n: int = 20) -> _Part:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return _Part(
        tuple(zip((cu + ru * np.cos(t)).tolist(), (cv + rv * np.sin(t)).tolist(), strict=True))
    )


def _torso(category: int, style: _Style) -> _Part:
    """Body of the garment: crew neck, a narrow-strapped tank or a zip-jacket neck."""
    hem = (style.hem, style.length)
    if category == _SLEEVELESS:
        dip, right = 0.16, [(0.11, 0.14), (0.2, -0.02), (0.32, -0.02), (0.36, 0.22), (0.48, 0.42)]
    elif category == _JACKET:
        dip, right = 0.05, [(0.1, 0.03), (0.17, -0.04), (0.52, 0.07), (0.54, 0.42)]
    else:
        dip, right = 0.09, [(0.09, 0.07), (0.16, -0.03), (0.5, 0.07), (0.52, 0.42)]
    return _Part(tuple([(0.0, dip), *right, hem, *_mirror([*right, hem])]))


def _arm_path(side: int, upper: float, fore: float) -> tuple[Point, Point, Point]:
    """Shoulder, elbow and wrist; angles in degrees from straight down, positive = outwards."""
    sx, sy = side * _SHOULDER[0], _SHOULDER[1]
    a, b = math.radians(upper), math.radians(fore)
    ex, ey = sx + side * _UPPER_ARM * math.sin(a), sy + _UPPER_ARM * math.cos(a)
    return (sx, sy), (ex, ey), (ex + side * _FOREARM * math.sin(b), ey + _FOREARM * math.cos(b))


def _along(path: Sequence[Point], length: float) -> tuple[Point, ...]:
    """The first `length` units of a polyline (how far a sleeve reaches down the arm)."""
    out, left = [path[0]], length
    for (u0, v0), (u1, v1) in zip(path, path[1:], strict=False):
        segment = math.hypot(u1 - u0, v1 - v0)
        if segment >= left:
            t = left / segment
            return (*out, (u0 + t * (u1 - u0), v0 + t * (v1 - v0)))
        out.append((u1, v1))
        left -= segment
    return tuple(out)


def _sleeves(category: int, arms: Sequence[Sequence[Point]]) -> list[_Part]:
    length, width = _SLEEVE[category]
    return [_Part(_along(arm, length), width) for arm in arms] if length else []


def _details(category: int, style: _Style) -> list[tuple[_Part, tuple[int, ...]]]:
    """Ribbed hem band and zip line of the jacket, in plain colours over the pattern."""
    if category != _JACKET:
        return []
    top, hem = style.length - 0.1, style.hem
    zip_color = (50, 50, 55) if style.rgb.mean() > 110 else (205, 205, 205)
    return [
        (
            _Part(((-hem, top), (hem, top), (hem, style.length), (-hem, style.length))),
            _rgb(style.rgb * 0.75),
        ),
        (_Part(((0.0, 0.05), (0.0, style.length)), 0.035), zip_color),
    ]


# --- drawing ----------------------------------------------------------------------------------


def _to_px(frame: _Frame, points: Sequence[Point]) -> list[Point]:
    c, s = math.cos(frame.angle), math.sin(frame.angle)
    return [
        (frame.x + frame.scale * (u * c - v * s), frame.y + frame.scale * (u * s + v * c))
        for u, v in points
    ]


def _draw(draw: ImageDraw.ImageDraw, part: _Part, frame: _Frame, fill, grow: int = 0) -> None:
    """Draw a part, `grow` px larger on every side (for outlines)."""
    xy = _to_px(frame, part.points)
    if part.width:
        width = max(1, round(part.width * frame.scale) + 2 * grow)
        draw.line(xy, fill=fill, width=width, joint="curve")
        return
    draw.polygon(xy, fill=fill)
    if grow:
        draw.line([*xy, xy[0]], fill=fill, width=2 * grow + 1, joint="curve")


def _frame_coords(frame: _Frame, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame units (u, v) of every pixel, so patterns stay attached to the garment."""
    y, x = (np.arange(n, dtype=np.float32) for n in (height, width))
    x, y = x[None, :], y[:, None]
    dx, dy = (x - frame.x) / frame.scale, (y - frame.y) / frame.scale
    c, s = math.cos(frame.angle), math.sin(frame.angle)
    return dx * c + dy * s, dy * c - dx * s


def _logo_mask(shape: str, du: np.ndarray, dv: np.ndarray, r: float) -> np.ndarray:
    if shape == "disc":
        return du**2 + dv**2 < r**2
    if shape == "ring":
        return np.abs(np.sqrt(du**2 + dv**2) - 0.75 * r) < 0.25 * r
    if shape == "square":
        return np.maximum(np.abs(du), np.abs(dv)) < 0.85 * r
    if shape == "diamond":
        return np.abs(du) + np.abs(dv) < r
    if shape == "triangle":
        return (dv < 0.7 * r) & (np.abs(du) < 0.6 * (dv + r))
    return (np.minimum(np.abs(du), np.abs(dv)) < 0.3 * r) & (np.maximum(np.abs(du), np.abs(dv)) < r)


def _pattern_mask(
    pattern: str, category: int, style: _Style, u: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """Where the pattern colour goes, as a function of frame units."""
    fu, fv = u / style.period + style.phase_u, v / style.period + style.phase_v
    if pattern == "horizontal-stripes":
        return fv % 1 < style.duty
    if pattern == "vertical-stripes":
        return fu % 1 < style.duty
    if pattern == "dots":
        return (fu % 1 - 0.5) ** 2 + (fv % 1 - 0.5) ** 2 < (0.6 * style.duty) ** 2
    if pattern == "checks":
        return (np.floor(fu) + np.floor(fv)) % 2 == 0
    if pattern == "logo":  # on the chest; beside the zip on a jacket
        cu = 0.24 if category == _JACKET else 0.0
        return _logo_mask(style.logo, u - cu, v - 0.45, style.logo_radius)
    return np.zeros(u.shape, dtype=bool)


def _fabric(product: Product, style: _Style, frame: _Frame, size: tuple[int, int]) -> Image.Image:
    """The patterned cloth covering the whole image; garment parts cut it out with masks."""
    u, v = _frame_coords(frame, *size)
    mask = _pattern_mask(PATTERNS[product.pattern], product.category, style, u, v)
    base, print_ = (Image.new("RGB", size, _rgb(c)) for c in (style.rgb, style.pattern_rgb))
    return Image.composite(print_, base, Image.fromarray(mask.view(np.uint8) * 255))


def _rgb(color: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(c) for c in np.clip(color, 0, 255))


def _dress(
    canvas: Image.Image, fabric: Image.Image, parts: Sequence[_Part], frame: _Frame, style: _Style
) -> None:
    """Paste garment parts back to front, each with a darker outline so seams show."""
    draw = ImageDraw.Draw(canvas)
    outline = _rgb(style.rgb * 0.6)
    grow = max(1, round(frame.scale / 60))
    for part in parts:
        _draw(draw, part, frame, outline, grow)
        mask = Image.new("L", canvas.size, 0)
        _draw(ImageDraw.Draw(mask), part, frame, 255)
        canvas.paste(fabric, (0, 0), mask)


def _draw_details(canvas: Image.Image, product: Product, style: _Style, frame: _Frame) -> None:
    draw = ImageDraw.Draw(canvas)
    for part, fill in _details(product.category, style):
        _draw(draw, part, frame, fill)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# --- product shot -----------------------------------------------------------------------------


def _flat_lay(product: Product, style: _Style, tilt: float) -> list[_Part]:
    """Garment laid flat, back to front: hood, sleeves, body."""
    angle = _FLAT_SLEEVE_ANGLE[product.category] + tilt
    arms = [_arm_path(side, angle, angle) for side in (-1, 1)]
    hood = [_ellipse(0.0, -0.2, 0.27, 0.3)] if product.category == _JACKET else []
    return [*hood, *_sleeves(product.category, arms), _torso(product.category, style)]


def _fit(parts: Sequence[_Part], width: int, height: int, fill: float, angle: float) -> _Frame:
    """A frame that centres the parts' bounding box and fills `fill` of the image."""
    points = np.array([p for part in parts for p in part.points])
    margin = max(part.width for part in parts) / 2
    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    scale = fill * min(width / (high[0] - low[0]), height / (high[1] - low[1]))
    mu, mv = (low + high) / 2 * scale
    c, s = math.cos(angle), math.sin(angle)
    return _Frame(width / 2 - (mu * c - mv * s), height / 2 - (mu * s + mv * c), scale, angle)


class ShotFraming(NamedTuple):
    """How a product shot frames its garment; drawn per product, and no person photo shows it."""

    height: int  # of the canvas, px
    width: int
    tilt: float  # of the sleeves, degrees
    fill: float  # share of the canvas the garment's bounding box fills
    angle: float  # of the whole garment, degrees


# The middle of each range `shot_framing` draws from.
MIDDLE_SHOT_FRAMING = ShotFraming(height=260, width=227, tilt=0.0, fill=0.8, angle=0.0)


def shot_framing(seed: int, product: Product) -> ShotFraming:
    """The framing of the product's shot in the archive of `seed`."""
    rng = np.random.default_rng((seed, product.product_id, _SHOT_STREAM))
    height = int(rng.integers(200, 321))
    width = int(height * rng.uniform(0.75, 1.0))
    tilt, fill, angle = (float(rng.uniform(*bounds)) for bounds in ((-5, 5), (0.72, 0.88), (-5, 5)))
    return ShotFraming(height, width, tilt, fill, angle)


def product_shot(
    seed: int,
    product: Product,
    framing: ShotFraming | None = None,
    phase: tuple[float, float] | None = None,
) -> bytes:
    """The product's shot as the archive of `seed` has it (JPEG bytes), or with another
    framing or pattern phase (u, v in [0, 1)): what a drawing from the photos cannot know
    (benchmarks/retrieval_ceiling.py)."""
    style = _style(seed, product)
    if phase is not None:
        style = style._replace(phase_u=phase[0], phase_v=phase[1])
    return _product_shot(product, style, framing or shot_framing(seed, product))


def _product_shot(product: Product, style: _Style, framing: ShotFraming) -> bytes:
    """The garment centred on white, with a little variation in size, angle and framing."""
    height, width = framing.height, framing.width
    parts = _flat_lay(product, style, framing.tilt)
    frame = _fit(parts, width, height, framing.fill, math.radians(framing.angle))
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    _dress(canvas, _fabric(product, style, frame, (width, height)), parts, frame, style)
    _draw_details(canvas, product, style, frame)
    return _jpeg(canvas, _PRODUCT_QUALITY)


# --- person photo -----------------------------------------------------------------------------


def _arm_pose(rng: np.random.Generator) -> tuple[float, float]:
    """Upper-arm and forearm angles: relaxed, hand on hip, or folded across the torso."""
    kind = rng.choice(3, p=(0.6, 0.2, 0.2))
    if kind == 0:
        upper = rng.uniform(4, 35)
        return float(upper), float(upper + rng.uniform(-10, 35))
    if kind == 1:
        return float(rng.uniform(30, 45)), float(-rng.uniform(35, 65))
    return float(rng.uniform(0, 14)), float(-rng.uniform(75, 105))


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A colour gradient with random rectangles and ellipses as clutter."""
    start, end = rng.uniform(30, 235, (2, 3))
    t = np.linspace(0, 1, height if rng.uniform() < 0.5 else width)
    ramp = start + (end - start) * t[:, None]
    shape = (height, 1, 3) if len(t) == height else (1, width, 3)
    image = Image.fromarray(
        np.broadcast_to(ramp.reshape(shape), (height, width, 3)).astype(np.uint8)
    )
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 7))):
        x0, x1 = sorted(rng.uniform(-0.2, 1.2, 2) * width)
        y0, y1 = sorted(rng.uniform(-0.2, 1.2, 2) * height)
        fill = _rgb(rng.uniform(0, 255, 3))
        (draw.rectangle if rng.uniform() < 0.6 else draw.ellipse)((x0, y0, x1, y1), fill=fill)
    return image


def _relight(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Contrast, brightness and colour cast (one lookup table), a side light, sometimes blur."""
    levels = (np.arange(256) - 128) * rng.uniform(0.7, 1.25) + 128 + rng.uniform(-30, 30)
    table = np.clip(levels * rng.uniform(0.85, 1.15, (3, 1)), 0, 255).astype(np.uint8)
    image = image.point(table.ravel().tolist())
    shade = rng.uniform(-0.3, 0.3)  # darkest share at one edge; the sign picks the edge
    ramp = 255 * (1 - abs(shade) * np.linspace(shade < 0, shade > 0, image.width))
    light = np.broadcast_to(ramp.astype(np.uint8), (image.height, image.width))
    image = ImageChops.multiply(image, Image.fromarray(np.ascontiguousarray(light)).convert("RGB"))
    if rng.uniform() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    return image


def _legs(spread: float) -> list[_Part]:
    legs = []
    for side in (-1, 1):
        top = [(side * 0.03, 1.2), (side * 0.47, 1.2)]
        ankle = [(side * (0.3 + spread), 3.35), (side * (0.11 + spread), 3.35)]
        legs.append(_Part((*top, *ankle)))
    return legs


class _Look(NamedTuple):
    """What changes between photos of one product besides framing, scene and light."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    trousers: tuple[int, int, int]
    arms: list[tuple[Point, Point, Point]]
    hood_up: bool
    long_hair: bool
    stance: float  # how far the feet are apart


def _look(rng: np.random.Generator) -> _Look:
    return _Look(
        skin=_rgb(_SKIN_TONES[rng.integers(len(_SKIN_TONES))] + rng.uniform(-10, 10, 3)),
        hair=_rgb(_HAIR[rng.integers(len(_HAIR))]),
        trousers=_rgb(_TROUSERS[rng.integers(len(_TROUSERS))] + rng.uniform(-15, 15, 3)),
        arms=[_arm_path(side, *_arm_pose(rng)) for side in (-1, 1)],
        hood_up=bool(rng.uniform() < 0.5),
        long_hair=bool(rng.uniform() < 0.4),
        stance=float(rng.uniform(0, 0.25)),
    )


def _framing(rng: np.random.Generator, width: int, height: int) -> _Frame:
    """Figure scale, position and lean; large scales crop the legs like a knee-up shot."""
    scale = height * rng.uniform(0.8, 1.5) / (_FIGURE_BOTTOM - _FIGURE_TOP)
    top = height * rng.uniform(0.02, 0.12)
    x = width * rng.uniform(0.38, 0.62)
    return _Frame(x, top - _FIGURE_TOP * scale, scale, math.radians(rng.uniform(-6, 6)))


def _draw_person(
    canvas: Image.Image, product: Product, style: _Style, frame: _Frame, look: _Look
) -> None:
    """Back to front: hair, legs, skin, hood, garment, head, then arms with their sleeves."""
    fabric = _fabric(product, style, frame, canvas.size)
    draw = ImageDraw.Draw(canvas)
    hooded = product.category == _JACKET and look.hood_up
    if look.long_hair and not hooded:
        hair = _Part(((-0.23, -0.4), (0.23, -0.4), (0.23, 0.3), (-0.23, 0.3)))
        _draw(draw, hair, frame, look.hair)
    for leg in _legs(look.stance):
        _draw(draw, leg, frame, look.trousers)
    for side in (-1, 1):
        _draw(draw, _ellipse(side * (0.2 + look.stance), 3.4, 0.15, 0.07), frame, (30, 28, 26))
    neck_and_shoulders = ((-0.09, -0.15), (0.09, -0.15), (0.09, 0.0), (0.5, 0.08), (0.52, 0.35))
    _draw(draw, _Part((*neck_and_shoulders, *_mirror(neck_and_shoulders))), frame, look.skin)
    if product.category == _JACKET:
        hood = _ellipse(0.0, -0.33, 0.33, 0.38) if hooded else _ellipse(0.0, 0.0, 0.32, 0.14)
        _dress(canvas, fabric, [hood], frame, style)
    _dress(canvas, fabric, [_torso(product.category, style)], frame, style)
    _draw_details(canvas, product, style, frame)
    if not hooded:
        _draw(draw, _ellipse(0.0, -0.4, 0.21, 0.25), frame, look.hair)
    _draw(draw, _ellipse(0.0, -0.32, 0.18, 0.23), frame, look.skin)
    for arm in look.arms:  # after the torso: an arm folded across it hides part of the garment
        _draw(draw, _Part(arm, _ARM_WIDTH), frame, look.skin)
        _draw(draw, _ellipse(*arm[-1], 0.09, 0.09), frame, look.skin)
        _dress(canvas, fabric, _sleeves(product.category, [arm]), frame, style)


def _person_photo(seed: int, product: Product, style: _Style, index: int) -> bytes:
    """A figure wearing the product, in a varied pose, framing, scene and light."""
    rng = np.random.default_rng((seed, product.product_id, _PHOTO_STREAM, index))
    height = int(rng.integers(150, 321))
    width = int(height * rng.uniform(0.55, 0.8))
    frame, look = _framing(rng, width, height), _look(rng)
    canvas = _background(rng, width, height)
    _draw_person(canvas, product, style, frame, look)
    return _jpeg(_relight(canvas, rng), int(rng.integers(35, 91)))


# --- archive ----------------------------------------------------------------------------------


def _render(task: tuple[int, Product]) -> tuple[bytes, list[bytes]]:
    """A product's shot and photos; a top-level function so a worker pool can run it."""
    seed, product = task
    style = _style(seed, product)
    photos = [_person_photo(seed, product, style, k) for k in range(product.num_photos)]
    return _product_shot(product, style, shot_framing(seed, product)), photos


def _rendered(
    seed: int, products: Sequence[Product], num_workers: int
) -> Iterator[tuple[bytes, list[bytes]]]:
    tasks = [(seed, product) for product in products]
    if num_workers <= 1:
        yield from map(_render, tasks)
        return
    # "spawn": forking a process that holds JAX or TensorFlow threads can deadlock.
    with multiprocessing.get_context("spawn").Pool(num_workers) as pool:
        yield from pool.imap(_render, tasks, chunksize=8)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), _MTIME, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _member_name(product_id: int, clean: int, image_id: int) -> str:
    return f"lookbook/data/PID{product_id:06d}_CLEAN{clean}_IID{image_id:06d}.jpg"


def _write_tar(path: pathlib.Path, seed: int, products: Sequence[Product], workers: int) -> None:
    image_id = 0
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for product, (shot, photos) in zip(
            products, _rendered(seed, products, workers), strict=True
        ):
            for clean, data in [(1, shot), *((0, photo) for photo in photos)]:
                _add(tar, _member_name(product.product_id, clean, image_id), data)
                image_id += 1


def _write_attributes(path: pathlib.Path, products: Sequence[Product]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ATTRIBUTE_FIELDS)
        writer.writerows([getattr(p, field) for field in ATTRIBUTE_FIELDS] for p in products)


def _atomically(path: pathlib.Path, write: Callable[[pathlib.Path], object]) -> None:
    """Write via a temporary name and rename, so a crash never leaves a complete-looking file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(pathlib.Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the archive is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_archive(
    output_dir: str | os.PathLike,
    size: str | SizeSpec = "small",
    seed: int = 0,
    *,
    num_workers: int | None = None,
) -> SyntheticArchive:
    """Write `lookbook.tar` and `lookbook_attributes.csv` into `output_dir`.

    A manifest written last records size, seed and generator version; when it matches, the
    existing files are reused. `num_workers` defaults to all cores for large archives only.
    """
    spec, out = _resolve(size), pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    archive = SyntheticArchive(out / TAR_NAME, out / ATTRIBUTES_FILENAME)
    manifest_path = out / MANIFEST_NAME
    manifest = {"version": _GENERATOR_VERSION, "seed": seed, **spec._asdict()}
    if (
        manifest_path.exists()
        and all(path.exists() for path in archive)
        and json.loads(manifest_path.read_text()) == manifest
    ):
        return archive
    manifest_path.unlink(missing_ok=True)
    products = plan(spec, seed)
    if num_workers is None:
        large = spec.num_products >= _POOL_MIN_PRODUCTS
        num_workers = (os.cpu_count() or 1) if large else 1
    _atomically(archive.tar_path, lambda p: _write_tar(p, seed, products, num_workers))
    _atomically(archive.attributes_path, lambda p: _write_attributes(p, products))
    _atomically(manifest_path, lambda p: p.write_text(json.dumps(manifest, sort_keys=True)))
    return archive
