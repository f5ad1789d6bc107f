"""Writes the builder's dummy data: a tiny LookBook-format `lookbook.tar` and its attributes.

    python datasets/lookbook/dummy_data/make_dummy_data.py

Products are picked so that every split gets some (splits hash the product id);
each has a product image and two person photos of distinct flat colours, so a
test can check that every photo is paired with its own product.
"""

import csv
import io
import itertools
import tarfile
from pathlib import Path

from PIL import Image

from pldt_jax_datasets.lookbook.pairing import split_of
from pldt_jax_datasets.lookbook.taxonomy import ATTRIBUTES, ATTRIBUTES_FILENAME

PRODUCTS_PER_SPLIT = {"train": 3, "validation": 2, "test": 2}
PHOTOS_PER_PRODUCT = 2
HERE = Path(__file__).parent


def pick_products() -> list[int]:
    chosen, counts = [], dict.fromkeys(PRODUCTS_PER_SPLIT, 0)
    for product_id in itertools.count(1):
        split = split_of(product_id)
        if counts[split] < PRODUCTS_PER_SPLIT[split]:
            counts[split] += 1
            chosen.append(product_id)
        if counts == PRODUCTS_PER_SPLIT:
            return chosen
    raise AssertionError("unreachable")


def jpeg(color: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def main() -> None:
    image_id = 0
    with tarfile.open(HERE / "lookbook.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        for product_id in pick_products():
            shots = [(1, (32, 32))] + [(0, (24, 32))] * PHOTOS_PER_PRODUCT
            for clean, size in shots:
                image_id += 1
                color = ((image_id * 37) % 256, (product_id * 53) % 256, 128)
                data = jpeg(color, size)
                info = tarfile.TarInfo(
                    f"lookbook/data/PID{product_id:06d}_CLEAN{clean}_IID{image_id:06d}.jpg"
                )
                info.size, info.mtime = len(data), 1_470_000_000
                tar.addfile(info, io.BytesIO(data))
    with (HERE / ATTRIBUTES_FILENAME).open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["product_id", *ATTRIBUTES])
        for product_id in pick_products():
            writer.writerow([product_id, product_id % 4, product_id % 12, product_id % 6, 0])


if __name__ == "__main__":
    main()
