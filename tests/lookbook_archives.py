"""Tiny LookBook-format archives for the dataset tests, written member by member."""

from __future__ import annotations

import io
import itertools
import struct
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from PIL import Image

from pldt_jax_datasets.lookbook import pairing


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (24, 32), mode: str = "RGB") -> bytes:
    """A small JPEG of one colour (width, height), so tests can tell images apart."""
    return encoded(Image.new("RGB", size, color).convert(mode), "JPEG", quality=95)


def color_of(product_id: int, image_id: int) -> tuple[int, int, int]:
    """A colour that identifies an image (far apart per image in the first channel)."""
    return ((image_id * 37) % 256, (product_id * 53) % 256, 128)


def name(product_id: int, is_product: bool, image_id: int) -> str:
    return f"lookbook/data/PID{product_id:06d}_CLEAN{int(is_product)}_IID{image_id:06d}.jpg"


def product_ids(per_split: Mapping[str, int], start: int = 1) -> dict[str, list[int]]:
    """The first product ids (from `start`) landing in each split, `per_split[split]` each."""
    chosen = {split: [] for split in per_split}
    for product_id in itertools.count(start):
        split = pairing.split_of(product_id)
        if split in chosen and len(chosen[split]) < per_split[split]:
            chosen[split].append(product_id)
        if all(len(chosen[s]) == n for s, n in per_split.items()):
            return chosen
    raise AssertionError("unreachable")


def good_members(
    pids: Iterable[int], photos_per_product: int = 2, first_image_id: int = 1
) -> dict[str, bytes]:
    """A product image and `photos_per_product` photos for each product id."""
    members = {}
    image_id = first_image_id
    for product_id in pids:
        for is_product in [True] + [False] * photos_per_product:
            members[name(product_id, is_product, image_id)] = jpeg(color_of(product_id, image_id))
            image_id += 1
    return members


def add_file(tar: tarfile.TarFile, member_name: str, data: bytes) -> None:
    info = tarfile.TarInfo(member_name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_tar(path: Path, members: Mapping[str, bytes]) -> Path:
    """A tar holding `members` (name -> bytes), in this order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for member_name, data in members.items():
            add_file(tar, member_name, data)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds no pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()
