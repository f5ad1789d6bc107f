"""The in-memory split on a tiny fake data source whose pixels encode their identity.

Pixel [0, 0] of every image is (product id, image id or 0, domain marker), so a
batch of images tells which examples and products it holds.
"""

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from pldt_jax import split_arrays as sa
from pldt_jax_datasets.lookbook.taxonomy import ATTRIBUTES

RES = 4
PRODUCT_IDS = np.array([10, 20, 30, 40, 50])
NUM = 23
PHOTO, PRODUCT = 200, 100  # Domain markers in channel 2 of pixel [0, 0].


class FakeSource:
    """Mimics a TFDS ArrayRecordDataSource and counts the batched reads."""

    def __init__(self, examples):
        self.examples = examples
        self.reads = 0

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        return self.examples[i]

    def __getitems__(self, indices):
        self.reads += 1
        return [self.examples[i] for i in indices]


def make_examples(num=NUM, seed=0):
    rng = np.random.default_rng(seed)
    product_images = {}
    for pid in PRODUCT_IDS:
        image = rng.integers(0, 256, (RES, RES, 3), dtype=np.uint8)
        image[0, 0] = (pid, 0, PRODUCT)
        image[1, 1] = (0, 255, 0)  # Both ends of the range.
        product_images[pid] = image
    # Every product has a photo; the rest at random.
    pids = np.concatenate([PRODUCT_IDS, rng.choice(PRODUCT_IDS, num - len(PRODUCT_IDS))])
    examples = []
    for image_id, pid in enumerate(pids):
        photo = rng.integers(0, 256, (RES, RES, 3), dtype=np.uint8)
        photo[0, 0] = (pid, image_id, PHOTO)
        negative_pid = PRODUCT_IDS[(np.searchsorted(PRODUCT_IDS, pid) + 1) % len(PRODUCT_IDS)]
        examples.append(
            {
                "source": photo,
                "target": product_images[pid],
                "negative": product_images[negative_pid],
                "product_id": np.int64(pid),
                "negative_product_id": np.int64(negative_pid),
                "image_id": np.int64(image_id),
                "category": np.int64(pid // 10 % 3),
                "color": np.int64(-1),
                "pattern": np.int64(pid % 7),
                "pattern_color": np.int64(-1),
            }
        )
    return examples


@pytest.fixture(scope="module")
def split():
    return sa.load_split(FakeSource(make_examples()))


def take(iterator, num):
    return [next(iterator) for _ in range(num)]


def ids(images):
    """Image ids (photos) or product ids (products) of a uint8 batch."""
    return images[:, 0, 0, 1] if images[0, 0, 0, 2] == PHOTO else images[:, 0, 0, 0]


def test_load_split_reads_in_chunks():
    examples = make_examples()
    source = FakeSource(examples)
    split = sa.load_split(source, batch_read=5)
    assert source.reads == 5
    assert len(split) == NUM and split.direction == "human_to_product"
    for name, values in split.arrays().items():
        assert values.dtype == (np.uint8 if name in sa.IMAGE_KEYS else np.int64)
        np.testing.assert_array_equal(values, np.stack([e[name] for e in examples]))
    assert split.source.shape == (NUM, RES, RES, 3)


def test_each_image_is_stored_once(split):
    """Photos once per example, products once per product, however many pairs name them."""
    assert split.photos.shape == (NUM, RES, RES, 3)
    np.testing.assert_array_equal(split.product_ids, PRODUCT_IDS)
    np.testing.assert_array_equal(split.product_images[:, 0, 0, 0], PRODUCT_IDS)
    for key in sa.IMAGE_KEYS:
        images, rows = split.images(key)
        assert images is (split.photos if key == "source" else split.product_images)
        np.testing.assert_array_equal(images[rows], split.gather(key))
    swapped = sa.orient(split, "product_to_human")
    assert swapped.images("target")[0] is swapped.images("negative")[0] is split.photos


def test_load_split_refuses_two_images_of_one_product():
    examples = make_examples()
    examples[7]["target"] = examples[7]["target"].copy()
    examples[7]["target"][2, 2] += 1
    with pytest.raises(ValueError, match=f"Products \\[{examples[7]['product_id']}\\]"):
        sa.load_split(examples, batch_read=5)


def test_split_refuses_a_product_without_image(split):
    with pytest.raises(ValueError, match="negative_product_id names products with no image"):
        dataclasses.replace(split, negative_product_id=split.negative_product_id + 1)


def test_a_negative_only_product_has_no_photo_to_show():
    """A product met only as a negative is kept, but has no photo for 'product_to_human'."""
    split = sa.load_split([e for e in make_examples() if e["product_id"] != 50])
    np.testing.assert_array_equal(split.product_ids, PRODUCT_IDS)
    assert 50 in split.negative_product_id and 50 not in sa.products(split).product_id
    with pytest.raises(ValueError, match=r"no example in the split.*\[50\]"):
        sa.orient(split, "product_to_human")


def test_encoded_product_images_are_decoded_once_each(split):
    examples = make_examples()
    encoded = {}
    for example in examples:
        for key in ("target", "negative"):
            buffer = io.BytesIO()
            Image.fromarray(example[key]).save(buffer, format="PNG")
            example[key] = encoded.setdefault(buffer.getvalue(), buffer.getvalue())
    decoded = []

    def decode(data: bytes) -> np.ndarray:
        decoded.append(data)
        return np.asarray(Image.open(io.BytesIO(data)))

    loaded = sa.load_split(examples, batch_read=5, decode_image=decode)
    assert len(decoded) == len(set(decoded)) == len(PRODUCT_IDS)
    for name, values in split.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], values)
    with pytest.raises(TypeError, match="decode_image"):
        sa.load_split(examples)


def test_load_split_accepts_a_list(split):
    listed = sa.load_split(make_examples(), batch_read=7)
    np.testing.assert_array_equal(listed.source, split.source)


def test_load_split_refuses_float_images():
    examples = make_examples()
    for example in examples:
        example["source"] = example["source"] / 255
    with pytest.raises(TypeError, match="safe"):
        sa.load_split(examples)


def test_products_sorted_and_unique(split):
    product_ids, images, attributes = sa.products(split)
    np.testing.assert_array_equal(product_ids, PRODUCT_IDS)
    np.testing.assert_array_equal(images[:, 0, 0, 0], PRODUCT_IDS)
    assert (images[:, 0, 0, 2] == PRODUCT).all()
    np.testing.assert_array_equal(attributes["pattern"], PRODUCT_IDS % 7)
    assert set(attributes) == set(ATTRIBUTES)


def test_product_to_human_swaps(split):
    swapped = sa.orient(split, "product_to_human")
    assert swapped.direction == "product_to_human"
    np.testing.assert_array_equal(swapped.source, split.target)
    np.testing.assert_array_equal(swapped.target, split.source)
    # The negative is a photo of the stored negative product.
    assert (swapped.negative[:, 0, 0, 2] == PHOTO).all()
    np.testing.assert_array_equal(swapped.negative[:, 0, 0, 0], split.negative_product_id)
    np.testing.assert_array_equal(sa.products(swapped).image, sa.products(split).image)
    back = sa.orient(swapped, "human_to_product")
    for name, values in split.arrays().items():
        np.testing.assert_array_equal(back.arrays()[name], values)
    assert sa.orient(split, "human_to_product") is split
    with pytest.raises(ValueError, match="direction"):
        sa.orient(split, "sideways")
