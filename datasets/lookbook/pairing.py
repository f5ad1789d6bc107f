"""From an archive's member names to the dataset's plan: which files are LookBook images, which
photo shows which product, and which split each product is in. Pure and deterministic.

Ambiguity is never resolved by guessing: unusable names, duplicates and orphans are skipped
with a reason in the `SkipReport`. Products are split 90/5/5 % into train/validation/test by a
seeded hash of the product id, so splits never share a product and a product keeps its split
when others are added.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import NamedTuple

from pldt_jax_datasets.lookbook.archive import (
    NAME_PATTERN,
    LookBookArchiveError,
    Member,
    open_archive,
)
from pldt_jax_datasets.lookbook.skip_report import SkipReport

SPLITS = ("train", "validation", "test")
# Section 5.2: 5 % of the products for validation, 5 % for test, the rest for training.
SPLIT_FRACTIONS = {"train": 0.90, "validation": 0.05, "test": 0.05}
# Part of the dataset's definition: changing it reshuffles every split.
SPLIT_SEED = 0
# No LookBook picture comes near this; a bigger member is not worth reading.
MAX_MEMBER_BYTES = 64 * 1024 * 1024


class ImageName(NamedTuple):
    product_id: int
    is_product: bool  # CLEAN1: the product shot; CLEAN0: a person wearing it.
    image_id: int


class Photo(NamedTuple):
    image_id: int
    product_id: int
    member: Member


def parse_name(path: str) -> ImageName | None:
    """Parses `.../PID%06d_CLEAN%d_IID%06d.jpg`; None for any other name."""
    match = NAME_PATTERN.fullmatch(PurePosixPath(path).name)
    if match is None:
        return None
    product_id, clean, image_id = match.groups()
    return ImageName(int(product_id), clean == "1", int(image_id))


def member_problem(member: Member) -> str | None:
    """Why a member cannot be a LookBook image, or None if its name parses."""
    parts = PurePosixPath(member.name).parts
    basename = parts[-1] if parts else ""
    if member.name.startswith(("/", "\\")) or ".." in parts or re.match(r"[A-Za-z]:", member.name):
        return "unsafe path (absolute or '..')"
    if "__MACOSX" in parts or basename.startswith("._") or basename == ".DS_Store":
        return "macOS metadata"
    if member.kind != "file":
        return "link or special file"
    if not basename.lower().endswith((".jpg", ".jpeg")):
        return "not a .jpg file"
    if parse_name(member.name) is None:
        return "name not PID%06d_CLEAN%d_IID%06d.jpg"
    if member.size > MAX_MEMBER_BYTES:
        return "file too large"
    return None


def named_members(members: Iterable[Member], report: SkipReport) -> list[tuple[Member, ImageName]]:
    """The members that may be LookBook images, with their parsed names."""
    named = []
    for member in members:
        if member.kind == "dir":
            continue
        problem = member_problem(member)
        if problem is None:
            named.append((member, parse_name(member.name)))
        else:
            report.add(problem, member.name)
    return named


def pair_images(
    named: Sequence[tuple[Member, ImageName]], report: SkipReport
) -> tuple[dict[int, Member], list[Photo]]:
    """Products (id -> product image) and the photos whose product has an image.

    Ambiguity is never resolved by guessing: every file of a duplicated image id,
    and every product image of a product that has several, is skipped.
    """
    by_image_id = collections.defaultdict(list)
    for member, name in named:
        by_image_id[name.image_id].append((member, name))
    unique = []
    for image_id in sorted(by_image_id):
        entries = by_image_id[image_id]
        if len(entries) == 1:
            unique.append(entries[0])
            continue
        for member, _ in entries:
            report.add("duplicate image id", member.name, f"IID {image_id} used {len(entries)}x")

    product_images = collections.defaultdict(list)
    for member, name in unique:
        if name.is_product:
            product_images[name.product_id].append(member)
    products = {}
    for product_id, members in sorted(product_images.items()):
        if len(members) == 1:
            products[product_id] = members[0]
            continue
        for member in members:
            report.add("several product images for one product", member.name)

    photos = []
    for member, name in unique:
        if name.is_product:
            continue
        if name.product_id in products:
            photos.append(Photo(name.image_id, name.product_id, member))
        else:
            report.add("photo without product image", member.name)
    with_photos = {photo.product_id for photo in photos}
    for product_id in sorted(set(products) - with_photos):
        report.add("product without photos", products.pop(product_id).name)
    return products, photos


def scan_archive(
    path: str | os.PathLike, report: SkipReport | None = None
) -> tuple[dict[int, Member], list[Photo], SkipReport]:
    """Lists and pairs an archive's images without decoding them.

    Raises `LookBookArchiveError` when no member name parses (not LookBook) or
    no photo has a product image.
    """
    report = report or SkipReport()
    with open_archive(path) as archive:
        members = archive.members(report)
    named = named_members(members, report)
    if not named:
        raise LookBookArchiveError(
            f"{path} is not a LookBook archive: none of its {len(members)} entries is named "
            f"like PID%06d_CLEAN%d_IID%06d.jpg.\n{report.summary()}"
        )
    products, photos = pair_images(named, report)
    if not photos:
        raise LookBookArchiveError(
            f"{path}: no person photo has a usable product image.\n{report.summary()}"
        )
    return products, photos, report


def _unit_hash(text: str) -> float:
    """A stable hash of `text` in [0, 1), the same on every machine and run."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_of(product_id: int, seed: int = SPLIT_SEED) -> str:
    """The split of a product: by a hash of its id, so splits never share a product
    and a product keeps its split when others are added."""
    u = _unit_hash(f"{seed}:{product_id}")
    bound = 0.0
    for split in SPLITS:
        bound += SPLIT_FRACTIONS[split]
        if u < bound:
            return split
    return SPLITS[-1]


def negative_of(image_id: int, product_id: int, split_products: Sequence[int]) -> int:
    """A product of the same split other than `product_id`, drawn by the image id.

    `split_products` is the split's sorted product ids and contains `product_id`.
    """
    others = len(split_products) - 1
    own = bisect.bisect_left(split_products, product_id)
    if others < 1 or own > others or split_products[own] != product_id:
        raise ValueError(f"product {product_id} and another must be in {split_products}")
    index = int(_unit_hash(f"negative:{image_id}") * others)
    return split_products[index + (index >= own)]


def plan_splits(
    product_ids: Iterable[int], photos: Iterable[Photo]
) -> dict[str, tuple[list[int], list[Photo]]]:
    """Per split: its sorted product ids and its photos, in archive order.

    Raises `LookBookArchiveError` when a split has fewer than two products
    (no negative could be drawn), which only happens with tiny archives.
    """
    product_ids = set(product_ids)
    plan = {split: ([], []) for split in SPLITS}
    for product_id in sorted(product_ids):
        plan[split_of(product_id)][0].append(product_id)
    for photo in sorted(photos, key=lambda photo: photo.member.index):
        if photo.product_id in product_ids:
            plan[split_of(photo.product_id)][1].append(photo)
    for split, (split_products, split_photos) in plan.items():
        if len(split_products) < 2 or not split_photos:
            raise LookBookArchiveError(
                f"the {split} split has {len(split_products)} usable products and "
                f"{len(split_photos)} photos; each split needs at least 2 products "
                f"(splits are {SPLIT_FRACTIONS} of the {len(product_ids)} products)."
            )
    return plan
