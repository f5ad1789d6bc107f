"""The LookBook TFDS builder: dummy data, splits, negatives, inputs, the prepare API."""

import shutil
import sys
from pathlib import Path

import lookbook_archives as la
import numpy as np
import pytest

from pldt_jax import config as config_lib
from pldt_jax import prepare, split_arrays
from pldt_jax_datasets.lookbook import lookbook_dataset_builder as lookbook
from pldt_jax_datasets.lookbook import pairing, preprocessing
from pldt_jax_datasets.lookbook.taxonomy import ATTRIBUTES

DUMMY_DATA = Path(lookbook.__file__).parent / "dummy_data"


def make_config(tmp_path: Path, source: str = "real", manual_dir: Path | None = None):
    config = config_lib.default_config()
    config.dataset.source = source
    config.dataset.data_dir = str(tmp_path / "data")
    config.dataset.manual_dir = str(manual_dir) if manual_dir else ""
    return config


def expected_colour(product_id: int, image_id: int) -> np.ndarray:
    """The flat colour make_dummy_data.py and lookbook_archives give an image."""
    return np.array(la.color_of(product_id, image_id))


def centre(image: np.ndarray) -> np.ndarray:
    return image[32, 32].astype(int)


@pytest.fixture(scope="module")
def dummy_config(tmp_path_factory):
    return make_config(tmp_path_factory.mktemp("dummy"), manual_dir=DUMMY_DATA)


@pytest.fixture(scope="module")
def dummy_sources(dummy_config):
    return prepare.load_data_sources(dummy_config)


def all_examples(sources):
    return {split: [source[i] for i in range(len(source))] for split, source in sources.items()}


def test_builds_dummy_data_without_tensorflow(dummy_sources):
    assert {split: len(source) for split, source in dummy_sources.items()} == {
        "train": 6,
        "validation": 4,
        "test": 4,
    }
    example = dummy_sources["train"][0]
    for key in ("source", "target", "negative"):
        assert example[key].shape == (64, 64, 3) and example[key].dtype == np.uint8
    assert "tensorflow" not in sys.modules


@pytest.mark.parametrize("direction", config_lib.DIRECTIONS)
def test_load_splits_equal_the_fully_decoded_sources(dummy_config, dummy_sources, direction):
    """Product images read encoded and decoded once give the same splits as decoding all."""
    config = dummy_config.copy_and_resolve_references()
    config.dataset.direction = direction
    splits = prepare.load_splits(config, ["test", "train", "test"])
    assert list(splits) == ["test", "train"]
    for name, split in splits.items():
        assert split.direction == direction
        plain = split_arrays.orient(split_arrays.load_split(dummy_sources[name]), direction)
        for key, values in plain.arrays().items():
            np.testing.assert_array_equal(split.arrays()[key], values)


def test_dummy_examples_are_paired_with_their_own_product(dummy_sources):
    product_images = {}  # product id -> image id of its product shot.
    for name in sorted(_tar_names(DUMMY_DATA / "lookbook.tar")):
        parsed = pairing.parse_name(name)
        if parsed.is_product:
            product_images[parsed.product_id] = parsed.image_id
    for split, examples in all_examples(dummy_sources).items():
        for example in examples:
            pid, iid = int(example["product_id"]), int(example["image_id"])
            assert pairing.split_of(pid) == split
            np.testing.assert_allclose(centre(example["source"]), expected_colour(pid, iid), atol=4)
            target_colour = expected_colour(pid, product_images[pid])
            np.testing.assert_allclose(centre(example["target"]), target_colour, atol=4)
            negative = int(example["negative_product_id"])
            assert negative != pid and pairing.split_of(negative) == split
            negative_colour = expected_colour(negative, product_images[negative])
            np.testing.assert_allclose(centre(example["negative"]), negative_colour, atol=4)
            # make_dummy_data.py's attributes: product_id % 4, % 12, % 6, 0.
            labels = [int(example[key]) for key in ATTRIBUTES]
            assert labels == [pid % 4, pid % 12, pid % 6, 0]


def test_image_ids_are_unique_keys_and_splits_share_no_product(dummy_sources):
    examples = all_examples(dummy_sources)
    image_ids = [int(e["image_id"]) for split in examples.values() for e in split]
    assert len(image_ids) == len(set(image_ids))
    products = {
        split: {int(e["product_id"]) for e in split_examples}
        for split, split_examples in examples.items()
    }
    assert not products["train"] & products["validation"]
    assert not products["train"] & products["test"]
    assert not products["validation"] & products["test"]


def _tar_names(path: Path) -> list[str]:
    import tarfile

    with tarfile.open(path) as tar:
        return tar.getnames()


def test_builder_configs_and_names():
    names = [config.name for config in lookbook.Builder.BUILDER_CONFIGS]
    assert names[0] == "real_64"
    assert set(names) == {
        "real_64",
        "real_128",
        "synthetic_small_64",
        "synthetic_small_128",
        "synthetic_medium_64",
        "synthetic_medium_128",
        "synthetic_full_64",
        "synthetic_full_128",
    }
    assert lookbook.builder_config_name("synthetic_small", 128) == "synthetic_small_128"
    with pytest.raises(ValueError):
        lookbook.builder_config_name("real", 32)
    with pytest.raises(ValueError):
        lookbook.builder_config_name("imagenet", 64)


@pytest.mark.parametrize("manual", ["absent", "empty", "unrelated"])
def test_missing_archive_raises_with_download_instructions(tmp_path, manual):
    manual_dir = tmp_path / "manual"
    if manual != "absent":
        manual_dir.mkdir()
    if manual == "unrelated":
        (manual_dir / "notes.txt").write_text("not LookBook")
    config = make_config(tmp_path, manual_dir=manual_dir)
    with pytest.raises(prepare.DatasetError) as raised:
        prepare.ensure_prepared(config)
    message = str(raised.value)
    assert "lookbook.tar" in message and "drive.google.com" in message
    assert str(manual_dir) in message
    assert not prepare.get_builder(config).is_prepared()


def test_synthetic_source_generates_and_reads_its_archive(tmp_path, monkeypatch):
    from pldt_jax_datasets.lookbook import synthetic

    calls, write_archive = [], synthetic.write_archive

    def small_write_archive(output_dir, size="small", seed=0):
        calls.append((Path(output_dir), size, seed))
        # 80 products put at least two in each split (see split_of's golden values).
        return write_archive(output_dir, synthetic.SizeSpec(80, 240), seed)

    monkeypatch.setattr(synthetic, "write_archive", small_write_archive)
    config = make_config(tmp_path, source="synthetic_small")
    builder = prepare.ensure_prepared(config)
    ((output_dir, size, seed),) = calls
    assert size == "small" and seed == 0 and str(tmp_path / "data") in str(output_dir)
    sources = prepare.load_data_sources(config)  # Prepared: not generated again.
    assert len(calls) == 1
    assert sum(len(source) for source in sources.values()) == 240
    assert builder.skip_report.total == 0
    example = sources["validation"][0]
    planned = {p.product_id: p for p in synthetic.plan(synthetic.SizeSpec(80, 240), 0)}
    product = planned[int(example["product_id"])]
    labels = [int(example[key]) for key in ATTRIBUTES]
    assert labels == [product.category, product.color, product.pattern, product.pattern_color]


def test_resolution_128_and_metadata_survive_reloading(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY_DATA, manual)
    (manual / "lookbook" / "data").mkdir(parents=True)  # An empty extra folder is ignored.
    config = make_config(tmp_path, manual_dir=manual)
    config.resolution = 128
    prepare.ensure_prepared(config)
    reloaded = prepare.get_builder(config)
    assert reloaded.is_prepared()
    assert reloaded.info.metadata["skipped"] == {}
    example = reloaded.as_data_source(split="train")[0]
    assert example["source"].shape == (128, 128, 3)
    # A person photo 24x32 is fitted to 96x128 with 16 white columns on each side.
    assert (example["source"][:, :15] == 255).all() and (example["source"][:, -15:] == 255).all()
    np.testing.assert_array_equal(
        example["source"], preprocessing.load_and_preprocess(_photo_bytes(manual, example), 128)
    )


def _photo_bytes(manual: Path, example) -> bytes:
    import tarfile

    with tarfile.open(manual / "lookbook.tar") as tar:
        for member in tar:
            parsed = pairing.parse_name(member.name)
            if parsed and parsed.image_id == int(example["image_id"]):
                return tar.extractfile(member).read()
    raise AssertionError("photo not in the archive")
