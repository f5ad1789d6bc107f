"""Training and evaluation batches on the tiny fake split of `test_split_arrays`, whose pixels
encode their identity (pixel [0, 0]: product id, image id or 0, domain marker)."""

import json

import numpy as np
import pytest
from test_split_arrays import NUM, PRODUCT_IDS, RES, FakeSource, ids, make_examples, take

from pldt_jax import config as config_lib
from pldt_jax import images, sharding
from pldt_jax import input_pipeline as ip
from pldt_jax import split_arrays as sa


@pytest.fixture(scope="module")
def split():
    return sa.load_split(FakeSource(make_examples()))


def test_batches_are_uint8_pixels_that_become_the_full_float_range(split):
    for batch in take(ip.BatchIterator(split, 4, seed=0), 3):
        assert set(batch) == {"source", "target", "negative"}
        for pixels in batch.values():
            assert pixels.dtype == np.uint8 and pixels.shape == (4, RES, RES, 3)
        assert batch["target"].min() == 0 and batch["target"].max() == 255
        floats = images.to_float(batch["target"])  # As the step does on the device.
        assert floats.min() == -1 and floats.max() == 1


def test_every_example_once_per_epoch(split):
    iterator = ip.BatchIterator(split, 4, seed=3)
    assert iterator.steps_per_epoch == NUM // 4
    for _ in range(2):
        seen = np.concatenate([ids(b["source"]) for b in take(iterator, iterator.steps_per_epoch)])
        assert len(seen) == 20 and len(np.unique(seen)) == 20  # 3 dropped per epoch.
    batches = take(iterator, iterator.steps_per_epoch)  # Every epoch's batches are full.
    assert all(len(batch["source"]) == 4 for batch in batches)


def epoch_order(split, seed, epochs, **kwargs):
    iterator = ip.BatchIterator(split, 4, seed=seed, **kwargs)
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


@pytest.mark.parametrize("direction", config_lib.DIRECTIONS)
def test_negatives_of_another_product(split, direction):
    oriented = sa.orient(split, direction)
    iterator = ip.BatchIterator(oriented, 4, seed=0)
    negatives = []
    for batch in take(iterator, 4 * iterator.steps_per_epoch):
        assert (batch["negative"][:, 0, 0, 0] != batch["target"][:, 0, 0, 0]).all()
        assert (batch["negative"][:, 0, 0, 2] == batch["target"][:, 0, 0, 2]).all()  # Same domain.
        negatives.append(batch["negative"][:, 0, 0, :2])
    # Redrawn: across four epochs every product serves as a negative.
    assert set(np.concatenate(negatives)[:, 0]) == set(PRODUCT_IDS)


def test_stored_negatives_without_redraw(split):
    iterator = ip.BatchIterator(split, 4, seed=0, redraw_negatives=False)
    for batch in take(iterator, 2 * iterator.steps_per_epoch):
        # The photos' image ids are their example indices (make_examples).
        np.testing.assert_array_equal(batch["negative"], split.negative[ids(batch["source"])])


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


def test_eval_batches_cover_all_once(split):
    batches = list(ip.eval_batches(split, 10))
    assert [len(b["product_id"]) for b in batches] == [10, 10, 3]
    assert batches[-1]["source"].shape == (3, RES, RES, 3)
    assert batches[0]["source"].dtype == np.uint8
    np.testing.assert_array_equal(np.concatenate([b["image_id"] for b in batches]), np.arange(NUM))
    np.testing.assert_array_equal(batches[-1]["source"], split.source[20:])


def test_create_train_iterator_from_config(split):
    config = config_lib.default_config()
    config.batch_size = 4
    config.seed = 9
    config.dataset.direction = "product_to_human"
    iterator = ip.create_train_iterator(config, split, process_index=0, process_count=1)
    batch = next(iterator)
    assert batch["source"].shape == (4, RES, RES, 3)
    expected = next(ip.BatchIterator(sa.orient(split, "product_to_human"), 4, seed=9))
    np.testing.assert_array_equal(batch["source"], expected["source"])


@pytest.mark.parametrize("redraw", [True, False])
def test_device_batches_equal_host_batches_and_are_sharded(split, redraw):
    """Gathered on the (two, see conftest) devices: the host's batches, split over the mesh."""
    mesh = sharding.create_mesh()
    assert mesh.size == 2
    host = ip.BatchIterator(split, 4, seed=3, redraw_negatives=redraw)
    device = ip.DeviceBatches(
        ip.BatchIterator(split, 4, seed=3, redraw_negatives=redraw),
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
        ip.BatchIterator(split, 4, seed=3, redraw_negatives=redraw),
        sharding.replicated(mesh),
        sharding.batch_sharding(mesh),
    )
    restored.set_state(device.get_state())
    np.testing.assert_array_equal(np.asarray(next(restored)["source"]), next(host)["source"])


def test_keep_on_device_setting(split):
    assert ip.keep_on_device("on", split)
    assert not ip.keep_on_device("off", split)
    assert not ip.keep_on_device("auto", split)  # On the CPU the host arrays are its memory.
