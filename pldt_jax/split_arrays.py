"""A whole split in memory as uint8 arrays, each photo and each product image once.

A LookBook split at 64 px fits in memory, so it is read once (`load_split`) from a data source
into a `SplitArrays`, and every batch (`input_pipeline`) is a gather from it. `products` is
the split's catalogue (the retrieval gallery, the attribute judge's training set); `orient`
puts the split in the config's direction.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import tqdm
from absl import logging

from pldt_jax.config import DIRECTIONS
from pldt_jax_datasets.lookbook.taxonomy import ATTRIBUTES

IMAGE_KEYS = ("source", "target", "negative")
INT_KEYS = ("product_id", "negative_product_id", "image_id", *ATTRIBUTES)


@dataclasses.dataclass(frozen=True, eq=False)
class SplitArrays:
    """A whole split in memory: one row per (photo, product) pair, each image stored once.

    `photos` holds example i's photo at row i; `product_images` every product the split
    names (as target or as negative) once, in the order of `product_ids` (sorted). A copy
    per example would nearly triple all of LookBook at 64 px (2.5 GB instead of 0.95), and
    with it what an accelerator must hold to keep the split on the device. The
    per-example fields are int64 (N,), -1 for an unknown attribute. `direction` says
    which domain `source` is, so `images` resolves every example's source, target and
    negative without an extra argument.
    """

    photos: np.ndarray
    product_images: np.ndarray
    product_ids: np.ndarray
    product_id: np.ndarray
    negative_product_id: np.ndarray
    image_id: np.ndarray
    category: np.ndarray
    color: np.ndarray
    pattern: np.ndarray
    pattern_color: np.ndarray
    direction: str = "human_to_product"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"Unknown direction {self.direction!r}; expected one of {DIRECTIONS}.")
        if np.any(np.diff(self.product_ids) <= 0):
            raise ValueError("product_ids must be sorted and unique.")
        photo_rows = np.arange(len(self))
        product_rows, negative_rows = (
            _find(self.product_ids, getattr(self, name), f"{name} names products with no image")
            for name in ("product_id", "negative_product_id")
        )
        if self.direction == "human_to_product":
            layout = {
                "source": (self.photos, photo_rows),
                "target": (self.product_images, product_rows),
                "negative": (self.product_images, negative_rows),
            }
        else:
            # The negative stays product `negative_product_id`, shown in the target domain:
            # its first photo in the split.
            ids, first = np.unique(self.product_id, return_index=True)
            position = _find(
                ids,
                self.negative_product_id,
                "Negative products have no example in the split, so no image in the target domain",
            )
            layout = {
                "source": (self.product_images, product_rows),
                "target": (self.photos, photo_rows),
                "negative": (self.photos, first[position]),
            }
        object.__setattr__(self, "_layout", layout)

    def __len__(self) -> int:
        return len(self.product_id)

    @property
    def image_bytes(self) -> int:
        """Memory the split's images take: its photos and its product images."""
        return self.photos.nbytes + self.product_images.nbytes

    def images(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, rows): example i's `key` ('source', 'target' or 'negative') is images[rows[i]].

        No copy is made; several keys may share one `images` array.
        """
        return self._layout[key]

    def gather(self, key: str, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """The `key` images of examples `rows`, uint8 (n, R, R, 3): a copy."""
        images, index = self._layout[key]
        return images[index[rows]]

    @property
    def source(self) -> np.ndarray:
        return self.gather("source")

    @property
    def target(self) -> np.ndarray:
        return self.gather("target")

    @property
    def negative(self) -> np.ndarray:
        return self.gather("negative")

    def arrays(self, rows: slice | np.ndarray = slice(None)) -> dict[str, np.ndarray]:
        """Every per-example field by name (images gathered) for examples `rows`."""
        fields = {name: self.gather(name, rows) for name in IMAGE_KEYS}
        return fields | {name: getattr(self, name)[rows] for name in INT_KEYS}


def _find(sorted_ids: np.ndarray, ids: np.ndarray, error: str) -> np.ndarray:
    """Positions of `ids` in `sorted_ids`; a ValueError starting with `error` names missing ones."""
    position = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    missing = sorted_ids[position] != ids
    if missing.any():
        raise ValueError(f"{error}: {np.unique(ids[missing])[:5]}.")
    return position


class Products(NamedTuple):
    """A split's distinct products, sorted by id: the retrieval gallery."""

    product_id: np.ndarray  # int64 (P,)
    image: np.ndarray  # uint8 (P, R, R, 3)
    attributes: dict[str, np.ndarray]  # ATTRIBUTES -> int64 (P,)


class ArraySource:
    """A data source over per-example arrays, as `load_split` reads them (tests, benchmarks)."""

    def __init__(self, **arrays: np.ndarray):
        self._arrays = arrays

    def __len__(self) -> int:
        return len(next(iter(self._arrays.values())))

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {name: values[index] for name, values in self._arrays.items()}


def _keep_product_images(
    kept: dict[int, np.ndarray], product_ids: np.ndarray, images: np.ndarray
) -> None:
    """Adds each product's image to `kept` once; an image that contradicts it is an error."""
    ids, first = np.unique(product_ids, return_index=True)
    for product_id, row in zip(ids.tolist(), first.tolist(), strict=True):
        if product_id not in kept:
            kept[product_id] = images[row].copy()
    differs = np.stack([kept[i] for i in product_ids.tolist()]) != images
    if differs.any():
        bad = np.unique(product_ids[differs.any(axis=(1, 2, 3))])[:5]
        raise ValueError(
            f"Products {bad} come with different images in different examples; a split "
            "holds one image per product."
        )


def load_split(
    data_source: Any,
    batch_read: int = 512,
    decode_image: Callable[[bytes], np.ndarray] | None = None,
) -> SplitArrays:
    """Reads a whole data source into memory, `batch_read` records per call.

    `data_source` needs `len()` and `ds[i]`; `ds.__getitems__(indices)` (TFDS
    ArrayRecordDataSource) is used when present since it reads many records at once.
    Each example's target and negative product image is kept once per product. With
    `decode_image`, records may hold those two encoded (bytes, as TFDS's `SkipDecoding`
    leaves them): each distinct encoding is then decoded once instead of once per record.
    """
    num = len(data_source)
    if num == 0:
        raise ValueError("The data source is empty.")
    read = getattr(data_source, "__getitems__", None) or (
        lambda indices: [data_source[i] for i in indices]
    )
    start_time = time.perf_counter()
    photos = np.empty(0, np.uint8)
    ints: dict[str, np.ndarray] = {}
    product_images: dict[int, np.ndarray] = {}
    decoded: dict[bytes, np.ndarray] = {}  # Identical bytes decode to identical pixels.

    def pixels(image: Any) -> Any:
        if not isinstance(image, bytes):
            return image
        if decode_image is None:
            raise TypeError("The data source gives encoded images; load_split needs decode_image.")
        if image not in decoded:
            decoded[image] = decode_image(image)
        return decoded[image]

    with tqdm.tqdm(total=num, unit="ex", desc="Loading split", disable=None) as bar:
        for lo in range(0, num, batch_read):
            hi = min(lo + batch_read, num)
            examples = read(list(range(lo, hi)))
            if not ints:
                photos = np.empty((num, *np.shape(examples[0]["source"])), np.uint8)
                ints = {name: np.empty(num, np.int64) for name in INT_KEYS}
            # Straight into place; "safe" refuses images that are not uint8.
            np.stack([ex["source"] for ex in examples], out=photos[lo:hi], casting="safe")
            for name, values in ints.items():
                np.stack([ex[name] for ex in examples], out=values[lo:hi], casting="safe")
            for key, id_key in (("target", "product_id"), ("negative", "negative_product_id")):
                chunk = np.empty((hi - lo, *photos.shape[1:]), np.uint8)
                np.stack([pixels(ex[key]) for ex in examples], out=chunk, casting="safe")
                _keep_product_images(product_images, ints[id_key][lo:hi], chunk)
            bar.update(hi - lo)
    product_ids = np.array(sorted(product_images), np.int64)
    split = SplitArrays(
        photos=photos,
        product_images=np.stack([product_images[i] for i in product_ids.tolist()]),
        product_ids=product_ids,
        **ints,
    )
    logging.info(
        "Loaded %d examples and %d products (%.0f MB) in %.1f s.",
        num,
        len(product_ids),
        split.image_bytes / 1e6,
        time.perf_counter() - start_time,
    )
    return split


def products(split: SplitArrays) -> Products:
    """The distinct products of the split's pairs, sorted by product id.

    The retrieval baseline searches them; attributes are taken from each
    product's first example (they describe the product, not the photo).
    """
    ids, first = np.unique(split.product_id, return_index=True)
    attributes = {name: getattr(split, name)[first] for name in ATTRIBUTES}
    image = split.product_images[np.searchsorted(split.product_ids, ids)]
    return Products(ids, image, attributes)


def orient(split: SplitArrays, direction: str) -> SplitArrays:
    """Puts the split in `direction`: which domain is the source (see `SplitArrays`).

    The negative stays the product `negative_product_id` but is shown in the new
    target domain: for 'product_to_human' it becomes the first photo of that product.
    """
    return (
        split if direction == split.direction else dataclasses.replace(split, direction=direction)
    )
