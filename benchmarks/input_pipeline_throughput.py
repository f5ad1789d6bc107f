"""Examples per second of the in-memory input pipeline on this machine.

python benchmarks/input_pipeline_throughput.py [--num_examples 60000 --batch_size 128]

A synthetic split of LookBook's size at 64 px (random pixels; the pipeline never
looks at them) measures the batch iterator (a uint8 gather, as training takes it) and the
one-time `load_split` from an in-memory data source. The latter counts the
pipeline's own stacking and copying only: reading and decoding array_record
files comes on top of it.
"""

import argparse
import time

import numpy as np

from pldt_jax import input_pipeline as ip
from pldt_jax import split_arrays


def synthetic_split(num: int, num_products: int, resolution: int) -> split_arrays.SplitArrays:
    """Random photos, one random image per product, stored negatives of other products."""
    rng = np.random.default_rng(0)
    shape = (resolution, resolution, 3)
    product_images = rng.integers(0, 256, (num_products, *shape), dtype=np.uint8)
    product = rng.integers(0, num_products, num)
    negative = (product + rng.integers(1, num_products, num)) % num_products
    attribute = rng.integers(-1, 5, num)
    return split_arrays.load_split(
        split_arrays.ArraySource(
            source=rng.integers(0, 256, (num, *shape), dtype=np.uint8),
            target=product_images[product],
            negative=product_images[negative],
            product_id=product.astype(np.int64),
            negative_product_id=negative.astype(np.int64),
            image_id=np.arange(num, dtype=np.int64),
            category=attribute,
            color=attribute,
            pattern=attribute,
            pattern_color=attribute,
        )
    )


def iterator_rate(split: split_arrays.SplitArrays, batch_size: int, steps: int, **kwargs) -> float:
    """Examples/s over `steps` batches, after one warm-up batch."""
    iterator = ip.BatchIterator(split, batch_size, seed=0, **kwargs)
    next(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_examples", type=int, default=60_000)
    parser.add_argument("--num_products", type=int, default=8_000)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=0, help="0 = one epoch")
    args = parser.parse_args()

    split = synthetic_split(args.num_examples, args.num_products, args.resolution)
    megabytes = split.image_bytes / 1e6
    print(
        f"split: {len(split)} examples, {len(split.product_ids)} products at "
        f"{args.resolution} px, {megabytes:.0f} MB of images in memory"
    )
    steps = args.steps or len(split) // args.batch_size
    print(f"iterator, batch {args.batch_size}, {steps} steps:")
    for label, kwargs in [
        ("redrawn negatives", {}),
        ("stored negatives ", {"redraw_negatives": False}),
    ]:
        rate = iterator_rate(split, args.batch_size, steps, **kwargs)
        print(f"  {label}: {rate:10,.0f} examples/s")

    source = split_arrays.ArraySource(**split.arrays())
    del split
    start = time.perf_counter()
    loaded = split_arrays.load_split(source)
    seconds = time.perf_counter() - start
    print(
        f"load_split from an in-memory source: {len(loaded)} examples in {seconds:.1f} s "
        f"= {len(loaded) / seconds:,.0f} examples/s"
    )


if __name__ == "__main__":
    main()
