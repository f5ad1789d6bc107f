"""From a data source to batches of (source, target, negative) images.

A LookBook split at 64 px fits in memory, so it is read once into uint8 arrays
(`load_split`), each photo and each product image once, and every batch is a gather
from them. The batch order is a pure function of (seed, epoch, step): every process
computes the same global batch and gathers only its own rows, and the iterator's
position is two integers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np
import tqdm
from absl import logging

from pldt_jax.config import DIRECTIONS, ON_DEVICE_SETTINGS, ConfigError
from pldt_jax.images import to_float

IMAGE_KEYS = ("source", "target", "negative")
ATTRIBUTE_KEYS = ("category", "color", "pattern", "pattern_color")
INT_KEYS = ("product_id", "negative_product_id", "image_id", *ATTRIBUTE_KEYS)


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
    attributes: dict[str, np.ndarray]  # ATTRIBUTE_KEYS -> int64 (P,)


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
    attributes = {name: getattr(split, name)[first] for name in ATTRIBUTE_KEYS}
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


class _NegativeSampler:
    """Draws, for every example, a target-domain image of a different product.

    The product is uniform over the other products, then the row is uniform over
    that product's rows: in 'human_to_product' all of a product's targets are the
    same image, in 'product_to_human' they are its different photos.
    """

    def __init__(self, product_id: np.ndarray):
        self._order = np.argsort(product_id, kind="stable")
        ids, self._start, self._count = np.unique(
            product_id[self._order], return_index=True, return_counts=True
        )
        if len(ids) < 2:
            raise ValueError("Redrawing negatives needs at least two products in the split.")
        self._own = np.searchsorted(ids, product_id)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """The example whose target is each example's negative."""
        other = rng.integers(0, len(self._start) - 1, size=len(self._own))
        other += other >= self._own  # Skip the example's own product.
        offset = rng.integers(0, self._count[other])
        return self._order[self._start[other] + offset]


class BatchIterator:
    """Endless training batches over epochs of one in-memory split.

    Global batch `step` of `epoch` is the slice of a permutation of [0, N) drawn
    from (seed, epoch); process `process_index` gathers only its contiguous part
    of it, so the processes' parts concatenate to the single-process batch.
    Yields {'source', 'target', 'negative'}: float32 (local_batch, R, R, 3) in
    [-1, 1], or the uint8 images with `as_uint8` (convert on the device with
    `to_float`, moving 4x fewer bytes). Without drop_remainder the epoch's last,
    partial batch is split over the processes as evenly as it goes.
    """

    def __init__(
        self,
        split: SplitArrays,
        batch_size: int,
        seed: int,
        *,
        shuffle: bool = True,
        redraw_negatives: bool = True,
        drop_remainder: bool = True,
        process_index: int = 0,
        process_count: int = 1,
        as_uint8: bool = False,
    ):
        if batch_size <= 0 or batch_size % process_count:
            raise ValueError(
                f"The global batch size {batch_size} must be positive and divisible by "
                f"the process count {process_count}."
            )
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} not in [0, {process_count}).")
        self._split = split
        self._batch_size = batch_size
        self._seed = seed
        self._shuffle = shuffle
        self._process_index = process_index
        self._process_count = process_count
        self._as_uint8 = as_uint8
        self._sampler = _NegativeSampler(split.product_id) if redraw_negatives else None
        num = len(split)
        self._steps_per_epoch = num // batch_size if drop_remainder else -(-num // batch_size)
        if self._steps_per_epoch == 0:
            raise ValueError(f"The split has {num} examples, fewer than one batch ({batch_size}).")
        self._epoch = 0
        self._step = 0
        self._plan_epoch = -1  # The epoch `_order` and `_negative_examples` belong to.

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch; without drop_remainder the last one is partial."""
        return self._steps_per_epoch

    @property
    def local_batch_size(self) -> int:
        """Rows this process receives per full batch."""
        return self._batch_size // self._process_count

    def get_state(self) -> dict[str, int]:
        """Position of the next batch, plus what must not change across a restore."""
        return {
            "epoch": self._epoch,
            "step": self._step,
            "seed": int(self._seed),
            "batch_size": int(self._batch_size),
            "num_examples": len(self._split),
        }

    def set_state(self, state: dict[str, int]) -> None:
        """Continues from a `get_state()`; the process count may differ."""
        for key in ("seed", "batch_size", "num_examples"):
            if int(state[key]) != self.get_state()[key]:
                raise ValueError(
                    f"Iterator state has {key}={state[key]}, this iterator "
                    f"{self.get_state()[key]}: the saved position would mean other batches."
                )
        if not 0 <= int(state["step"]) < self.steps_per_epoch:
            raise ValueError(f"Step {state['step']} not in [0, {self.steps_per_epoch}).")
        self._epoch = int(state["epoch"])
        self._step = int(state["step"])

    def __iter__(self) -> BatchIterator:
        return self

    @property
    def images(self) -> dict[str, np.ndarray]:
        """The arrays that `next_rows()` index, per batch key (some are the same array)."""
        return {key: self._split.images(key)[0] for key in IMAGE_KEYS}

    def next_rows(self) -> dict[str, np.ndarray]:
        """Advances one batch; the rows of `images` that make up the whole global batch."""
        if self._plan_epoch != self._epoch:
            self._plan(self._epoch)
        lo = self._step * self._batch_size
        examples = self._order[lo : lo + self._batch_size]
        self._step += 1
        if self._step == self.steps_per_epoch:
            self._epoch, self._step = self._epoch + 1, 0
        rows = {key: self._split.images(key)[1] for key in IMAGE_KEYS}
        negative = (
            rows["negative"][examples]
            if self._sampler is None
            # Redrawn negatives are other examples' targets.
            else rows["target"][self._negative_examples[examples]]
        )
        return {
            "source": rows["source"][examples],
            "target": rows["target"][examples],
            "negative": negative,
        }

    def __next__(self) -> dict[str, np.ndarray]:
        """This process's part of the next global batch."""
        images = self.images
        batch = {
            name: images[name].take(
                np.array_split(rows, self._process_count)[self._process_index], axis=0
            )
            for name, rows in self.next_rows().items()
        }
        if self._as_uint8:
            return batch
        return {name: to_float(images) for name, images in batch.items()}

    def _plan(self, epoch: int) -> None:
        """The epoch's example order and negatives, from (seed, epoch) alone."""
        num = len(self._split)
        self._order = (
            np.random.default_rng([self._seed, epoch, 0]).permutation(num)
            if self._shuffle
            else np.arange(num)
        )
        if self._sampler is not None:
            self._negative_examples = self._sampler.draw(
                np.random.default_rng([self._seed, epoch, 1])
            )
        self._plan_epoch = epoch


class DeviceBatches:
    """`BatchIterator`'s batches, gathered on the devices from a split kept there as uint8.

    Each device holds the whole split (all of LookBook at 64 px is 0.95 GB: its photos and
    each product once), so a batch costs the host only the row indices and the
    accelerator one gather, placed straight onto `batch_sharding`. Single-process only: with
    several processes each one feeds its own rows from the host (`step.global_batch`).
    """

    def __init__(
        self,
        batches: BatchIterator,
        replicated: jax.sharding.Sharding,
        batch_sharding: jax.sharding.Sharding,
    ):
        self._batches = batches
        placed: dict[int, jax.Array] = {}  # Redrawn negatives share the targets' copy.
        self._images = {}
        for name, images in batches.images.items():
            if id(images) not in placed:
                placed[id(images)] = jax.device_put(images, replicated)
            self._images[name] = placed[id(images)]
        self._gather = jax.jit(
            lambda images, rows: {name: images[name][rows[name]] for name in rows},
            out_shardings=batch_sharding,
        )
        self._replicated = replicated

    @property
    def steps_per_epoch(self) -> int:
        return self._batches.steps_per_epoch

    def get_state(self) -> dict[str, int]:
        return self._batches.get_state()

    def set_state(self, state: dict[str, int]) -> None:
        self._batches.set_state(state)

    def __iter__(self) -> DeviceBatches:
        return self

    def __next__(self) -> dict[str, jax.Array]:
        rows = jax.device_put(self._batches.next_rows(), self._replicated)
        return self._gather(self._images, rows)


# 'auto' keeps the split on the devices when it takes at most this share of a device's memory.
ON_DEVICE_MEMORY_SHARE = 0.25


def keep_on_device(setting: str, split: SplitArrays) -> bool:
    """Whether to use `DeviceBatches`: 'on', 'off', or 'auto' = on a single-process
    accelerator whose memory the split fits in (the CPU's host arrays already are its memory).
    """
    if setting == "on" and jax.process_count() > 1:
        raise ConfigError(
            [f"dataset.on_device 'on' needs a single process, this job has {jax.process_count()}"]
        )
    if setting not in ON_DEVICE_SETTINGS:
        raise ValueError(f"dataset.on_device must be one of {ON_DEVICE_SETTINGS}, got {setting!r}")
    if setting != "auto":
        return setting == "on"
    if jax.process_count() > 1 or jax.default_backend() == "cpu":
        return False
    limits = [(d.memory_stats() or {}).get("bytes_limit", 0) for d in jax.local_devices()]
    return split.image_bytes <= ON_DEVICE_MEMORY_SHARE * min(limits)


def eval_batches(
    split: SplitArrays, batch_size: int, *, pad: bool = False, as_uint8: bool = False
) -> Iterator[dict[str, Any]]:
    """The split in order, every example once, the last batch partial.

    Each batch holds every field of the split (images as float32 in [-1, 1], or
    uint8) and 'count', its number of real examples. With `pad` the last batch is
    filled up to `batch_size` with zero rows so a jitted or sharded evaluation
    sees one shape; only its first `count` rows are examples.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    for lo in range(0, len(split), batch_size):
        batch: dict[str, Any] = split.arrays(slice(lo, lo + batch_size))
        count = len(batch["product_id"])
        if pad and count < batch_size:
            batch = {
                name: np.concatenate([v, np.zeros((batch_size - count, *v.shape[1:]), v.dtype)])
                for name, v in batch.items()
            }
        if not as_uint8:
            batch.update({name: to_float(batch[name]) for name in IMAGE_KEYS})
        batch["count"] = count
        yield batch


def create_train_iterator(
    config: ml_collections.ConfigDict,
    split_arrays: SplitArrays,
    process_index: int | None = None,
    process_count: int | None = None,
    *,
    as_uint8: bool = False,
) -> BatchIterator:
    """The training iterator the config describes, oriented in its direction.

    Process index and count default to JAX's, so a multi-host run needs no arguments.
    """
    return BatchIterator(
        orient(split_arrays, config.dataset.direction),
        config.batch_size,
        config.seed,
        redraw_negatives=config.dataset.redraw_negatives,
        process_index=jax.process_index() if process_index is None else process_index,
        process_count=jax.process_count() if process_count is None else process_count,
        as_uint8=as_uint8,
    )
