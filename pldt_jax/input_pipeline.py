"""From an in-memory split (`split_arrays`) to batches of (source, target, negative) images.

Every batch is a uint8 gather from the split; the networks' step turns it into floats on the
device, so the host moves 4x fewer bytes. The batch order is a pure function of (seed, epoch,
step): every process computes the same global batch and gathers only its own rows, and the
iterator's position is two integers.
"""

from __future__ import annotations

from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from pldt_jax.config import ON_DEVICE_SETTINGS, ConfigError
from pldt_jax.split_arrays import IMAGE_KEYS, SplitArrays, orient


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
    from (seed, epoch); the last N mod batch_size examples of the permutation wait for
    another epoch. Process `process_index` gathers only its contiguous part of each batch,
    so the processes' parts concatenate to the single-process batch. Yields {'source',
    'target', 'negative'}: uint8 (local_batch, R, R, 3).
    """

    def __init__(
        self,
        split: SplitArrays,
        batch_size: int,
        seed: int,
        *,
        redraw_negatives: bool = True,
        process_index: int = 0,
        process_count: int = 1,
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
        self._process_index = process_index
        self._process_count = process_count
        self._sampler = _NegativeSampler(split.product_id) if redraw_negatives else None
        num = len(split)
        self._steps_per_epoch = num // batch_size
        if self._steps_per_epoch == 0:
            raise ValueError(f"The split has {num} examples, fewer than one batch ({batch_size}).")
        self._epoch = 0
        self._step = 0
        self._plan_epoch = -1  # The epoch `_order` and `_negative_examples` belong to.

    @property
    def steps_per_epoch(self) -> int:
        """Full batches per epoch."""
        return self._steps_per_epoch

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
        return {
            name: images[name].take(
                np.array_split(rows, self._process_count)[self._process_index], axis=0
            )
            for name, rows in self.next_rows().items()
        }

    def _plan(self, epoch: int) -> None:
        """The epoch's example order and negatives, from (seed, epoch) alone."""
        self._order = np.random.default_rng([self._seed, epoch, 0]).permutation(len(self._split))
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
    several processes each one feeds its own rows from the host (`sharding.global_batch`).
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


def eval_batches(split: SplitArrays, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """The split in order, every example once, the last batch partial: every field of the
    split (`SplitArrays.arrays`), images uint8."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    for lo in range(0, len(split), batch_size):
        yield split.arrays(slice(lo, lo + batch_size))


def create_train_iterator(
    config: ml_collections.ConfigDict,
    split: SplitArrays,
    process_index: int | None = None,
    process_count: int | None = None,
) -> BatchIterator:
    """The training iterator the config describes, oriented in its direction.

    Process index and count default to JAX's, so a multi-host run needs no arguments.
    """
    return BatchIterator(
        orient(split, config.dataset.direction),
        config.batch_size,
        config.seed,
        redraw_negatives=config.dataset.redraw_negatives,
        process_index=jax.process_index() if process_index is None else process_index,
        process_count=jax.process_count() if process_count is None else process_count,
    )
