"""Input pipeline on a tiny fake data source whose pixels encode their identity.

Pixel [0, 0] of every image is (product id, image id or 0, domain marker), so a
batch of images tells which examples and products it holds.
"""

import dataclasses
import io
import json

import numpy as np
import pytest
from PIL import Image

from pldt_jax import config as config_lib
from pldt_jax import images, sharding
from pldt_jax import input_pipeline as ip

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
    return ip.load_split(FakeSource(make_examples()))


def take(iterator, num):
    return [next(iterator) for _ in range(num)]


def ids(images):
    """Image ids (photos) or product ids (products) of a uint8 batch."""
    return images[:, 0, 0, 1] if images[0, 0, 0, 2] == PHOTO else images[:, 0, 0, 0]


def test_load_split_reads_in_chunks():
    examples = make_examples()
    source = FakeSource(examples)
    split = ip.load_split(source, batch_read=5)
    assert source.reads == 5
    assert len(split) == NUM and split.direction == "human_to_product"
    for name, values in split.arrays().items():
        assert values.dtype == (np.uint8 if name in ip.IMAGE_KEYS else np.int64)
        np.testing.assert_array_equal(values, np.stack([e[name] for e in examples]))
    assert split.source.shape == (NUM, RES, RES, 3)


def test_each_image_is_stored_once(split):
    """Photos once per example, products once per product, however many pairs name them."""
    assert split.photos.shape == (NUM, RES, RES, 3)
    np.testing.assert_array_equal(split.product_ids, PRODUCT_IDS)
    np.testing.assert_array_equal(split.product_images[:, 0, 0, 0], PRODUCT_IDS)
    for key in ip.IMAGE_KEYS:
        images, rows = split.images(key)
        assert images is (split.photos if key == "source" else split.product_images)
        np.testing.assert_array_equal(images[rows], split.gather(key))
    swapped = ip.orient(split, "product_to_human")
    assert swapped.images("target")[0] is swapped.images("negative")[0] is split.photos


def test_load_split_refuses_two_images_of_one_product():
    examples = make_examples()
    examples[7]["target"] = examples[7]["target"].copy()
    examples[7]["target"][2, 2] += 1
    with pytest.raises(ValueError, match=f"Products \\[{examples[7]['product_id']}\\]"):
        ip.load_split(examples, batch_read=5)


def test_split_refuses_a_product_without_image(split):
    with pytest.raises(ValueError, match="negative_product_id names products with no image"):
        dataclasses.replace(split, negative_product_id=split.negative_product_id + 1)


def test_a_negative_only_product_has_no_photo_to_show():
    """A product met only as a negative is kept, but has no photo for 'product_to_human'."""
    split = ip.load_split([e for e in make_examples() if e["product_id"] != 50])
    np.testing.assert_array_equal(split.product_ids, PRODUCT_IDS)
    assert 50 in split.negative_product_id and 50 not in ip.products(split).product_id
    with pytest.raises(ValueError, match=r"no example in the split.*\[50\]"):
        ip.orient(split, "product_to_human")


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

    loaded = ip.load_split(examples, batch_read=5, decode_image=decode)
    assert len(decoded) == len(set(decoded)) == len(PRODUCT_IDS)
    for name, values in split.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], values)
    with pytest.raises(TypeError, match="decode_image"):
        ip.load_split(examples)


def test_load_split_accepts_a_list(split):
    listed = ip.load_split(make_examples(), batch_read=7)
    np.testing.assert_array_equal(listed.source, split.source)


def test_load_split_refuses_float_images():
    examples = make_examples()
    for example in examples:
        example["source"] = example["source"] / 255
    with pytest.raises(TypeError, match="safe"):
        ip.load_split(examples)


def test_products_sorted_and_unique(split):
    product_ids, images, attributes = ip.products(split)
    np.testing.assert_array_equal(product_ids, PRODUCT_IDS)
    np.testing.assert_array_equal(images[:, 0, 0, 0], PRODUCT_IDS)
    assert (images[:, 0, 0, 2] == PRODUCT).all()
    np.testing.assert_array_equal(attributes["pattern"], PRODUCT_IDS % 7)
    assert set(attributes) == set(ip.ATTRIBUTE_KEYS)


def test_float_batches_in_range(split):
    iterator = ip.BatchIterator(split, 4, seed=0)
    raw = take(ip.BatchIterator(split, 4, seed=0, as_uint8=True), 3)
    for batch, uint8 in zip(take(iterator, 3), raw, strict=True):
        assert set(batch) == {"source", "target", "negative"}
        for name, pixels in batch.items():
            assert pixels.dtype == np.float32 and pixels.shape == (4, RES, RES, 3)
            assert uint8[name].dtype == np.uint8
            np.testing.assert_array_equal(pixels, uint8[name].astype(np.float32) / 127.5 - 1)
        assert batch["target"].min() == -1 and batch["target"].max() == 1


def test_every_example_once_per_epoch(split):
    iterator = ip.BatchIterator(split, 4, seed=3, as_uint8=True)
    assert iterator.steps_per_epoch == NUM // 4
    for _ in range(2):
        seen = np.concatenate([ids(b["source"]) for b in take(iterator, iterator.steps_per_epoch)])
        assert len(seen) == 20 and len(np.unique(seen)) == 20  # 3 dropped per epoch.
    kept = ip.BatchIterator(split, 4, seed=3, drop_remainder=False, as_uint8=True)
    batches = take(kept, kept.steps_per_epoch)
    assert kept.steps_per_epoch == 6 and len(batches[-1]["source"]) == 3
    assert sorted(np.concatenate([ids(b["source"]) for b in batches])) == list(range(NUM))
    batches = take(kept, kept.steps_per_epoch)  # The next epoch starts with a full batch.
    assert len(batches[0]["source"]) == 4
    assert sorted(np.concatenate([ids(b["source"]) for b in batches])) == list(range(NUM))


def epoch_order(split, seed, epochs, **kwargs):
    iterator = ip.BatchIterator(split, 4, seed=seed, as_uint8=True, **kwargs)
    return [
        np.concatenate([ids(b["source"]) for b in take(iterator, iterator.steps_per_epoch)])
        for _ in range(epochs)
    ]


def test_shuffle_deterministic_and_new_each_epoch(split):
    first, second = epoch_order(split, seed=1, epochs=2)
    again = epoch_order(split, seed=1, epochs=2)
    other_seed = epoch_order(split, seed=2, epochs=1)[0]
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, other_seed)
    unshuffled = epoch_order(split, seed=1, epochs=2, shuffle=False)
    np.testing.assert_array_equal(unshuffled[0], np.arange(20))
    np.testing.assert_array_equal(unshuffled[1], np.arange(20))


@pytest.mark.parametrize("direction", config_lib.DIRECTIONS)
def test_negatives_of_another_product(split, direction):
    oriented = ip.orient(split, direction)
    iterator = ip.BatchIterator(oriented, 4, seed=0, as_uint8=True)
    negatives = []
    for batch in take(iterator, 4 * iterator.steps_per_epoch):
        assert (batch["negative"][:, 0, 0, 0] != batch["target"][:, 0, 0, 0]).all()
        assert (batch["negative"][:, 0, 0, 2] == batch["target"][:, 0, 0, 2]).all()  # Same domain.
        negatives.append(batch["negative"][:, 0, 0, :2])
    # Redrawn: across four epochs every product serves as a negative.
    assert set(np.concatenate(negatives)[:, 0]) == set(PRODUCT_IDS)


def test_stored_negatives_without_redraw(split):
    iterator = ip.BatchIterator(split, 4, seed=0, redraw_negatives=False, shuffle=False)
    batch = next(iterator)
    np.testing.assert_array_equal(batch["negative"], images.to_float(split.negative[:4]))


def test_two_processes_concatenate_to_one(split):
    whole = take(ip.BatchIterator(split, 4, seed=5), 12)
    shards = [
        take(ip.BatchIterator(split, 4, seed=5, process_index=i, process_count=2), 12)
        for i in range(2)
    ]
    for index, batch in enumerate(whole):
        for name, pixels in batch.items():
            assert shards[0][index][name].shape[0] == 2
            joined = np.concatenate([shards[0][index][name], shards[1][index][name]])
            np.testing.assert_array_equal(joined, pixels)
    with pytest.raises(ValueError, match="divisible"):
        ip.BatchIterator(split, 5, seed=0, process_count=2)
    with pytest.raises(ValueError, match="fewer than one batch"):
        ip.BatchIterator(split, 32, seed=0)


@pytest.mark.parametrize("consumed", [2, 5, 7, 10])  # Mid-epoch, boundary, next epoch.
def test_restore_continues_identically(split, consumed):
    uninterrupted = ip.BatchIterator(split, 4, seed=9)
    expected = take(uninterrupted, consumed + 8)[consumed:]
    interrupted = ip.BatchIterator(split, 4, seed=9)
    take(interrupted, consumed)
    state = json.loads(json.dumps(interrupted.get_state()))
    assert state["epoch"] * 5 + state["step"] == consumed
    restored = ip.BatchIterator(split, 4, seed=9)
    restored.set_state(state)
    for got, want in zip(take(restored, 8), expected, strict=True):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    # Restored on two processes: process 1 gets the second half of the same batch.
    shard = ip.BatchIterator(split, 4, seed=9, process_index=1, process_count=2)
    shard.set_state(state)
    np.testing.assert_array_equal(next(shard)["source"], expected[0]["source"][2:])


def test_restore_refuses_another_setup(split):
    state = ip.BatchIterator(split, 4, seed=0).get_state()
    with pytest.raises(ValueError, match="seed"):
        ip.BatchIterator(split, 4, seed=1).set_state(state)
    with pytest.raises(ValueError, match="batch_size"):
        ip.BatchIterator(split, 2, seed=0).set_state(state)


def test_product_to_human_swaps(split):
    swapped = ip.orient(split, "product_to_human")
    assert swapped.direction == "product_to_human"
    np.testing.assert_array_equal(swapped.source, split.target)
    np.testing.assert_array_equal(swapped.target, split.source)
    # The negative is a photo of the stored negative product.
    assert (swapped.negative[:, 0, 0, 2] == PHOTO).all()
    np.testing.assert_array_equal(swapped.negative[:, 0, 0, 0], split.negative_product_id)
    np.testing.assert_array_equal(ip.products(swapped).image, ip.products(split).image)
    back = ip.orient(swapped, "human_to_product")
    for name, values in split.arrays().items():
        np.testing.assert_array_equal(back.arrays()[name], values)
    assert ip.orient(split, "human_to_product") is split
    with pytest.raises(ValueError, match="direction"):
        ip.orient(split, "sideways")


def test_eval_batches_cover_all_once(split):
    batches = list(ip.eval_batches(split, 10))
    assert [b["count"] for b in batches] == [10, 10, 3]
    assert batches[-1]["source"].shape == (3, RES, RES, 3)
    assert batches[0]["source"].dtype == np.float32
    np.testing.assert_array_equal(np.concatenate([b["image_id"] for b in batches]), np.arange(NUM))
    padded = list(ip.eval_batches(split, 10, pad=True, as_uint8=True))
    assert padded[-1]["source"].shape == (10, RES, RES, 3) and padded[-1]["count"] == 3
    np.testing.assert_array_equal(padded[-1]["source"][:3], split.source[20:])


def test_create_train_iterator_from_config(split):
    config = config_lib.default_config()
    config.batch_size = 4
    config.seed = 9
    config.dataset.direction = "product_to_human"
    iterator = ip.create_train_iterator(config, split, process_index=0, process_count=1)
    batch = next(iterator)
    assert batch["source"].shape == (4, RES, RES, 3)
    expected = next(ip.BatchIterator(ip.orient(split, "product_to_human"), 4, seed=9))
    np.testing.assert_array_equal(batch["source"], expected["source"])


@pytest.mark.parametrize("redraw", [True, False])
def test_device_batches_equal_host_batches_and_are_sharded(split, redraw):
    """Gathered on the (two, see conftest) devices: the host's batches, split over the mesh."""
    mesh = sharding.create_mesh()
    assert mesh.size == 2
    host = ip.BatchIterator(split, 4, seed=3, redraw_negatives=redraw, as_uint8=True)
    device = ip.DeviceBatches(
        ip.BatchIterator(split, 4, seed=3, redraw_negatives=redraw, as_uint8=True),
        sharding.replicated(mesh),
        sharding.batch_sharding(mesh),
    )
    assert device.steps_per_epoch == host.steps_per_epoch
    for _ in range(7):  # Across the epoch boundary (5 batches per epoch).
        want, got = next(host), next(device)
        for name, pixels in want.items():
            assert got[name].dtype == np.uint8
            assert got[name].sharding == sharding.batch_sharding(mesh)
            assert [s.data.shape[0] for s in got[name].addressable_shards] == [2, 2]
            np.testing.assert_array_equal(np.asarray(got[name]), pixels)
    # The position is the wrapped iterator's, so a restore continues the same batches.
    restored = ip.DeviceBatches(
        ip.BatchIterator(split, 4, seed=3, redraw_negatives=redraw, as_uint8=True),
        sharding.replicated(mesh),
        sharding.batch_sharding(mesh),
    )
    restored.set_state(device.get_state())
    np.testing.assert_array_equal(np.asarray(next(restored)["source"]), next(host)["source"])


def test_keep_on_device_setting(split):
    assert ip.keep_on_device("on", split)
    assert not ip.keep_on_device("off", split)
    assert not ip.keep_on_device("auto", split)  # On the CPU the host arrays are its memory.
