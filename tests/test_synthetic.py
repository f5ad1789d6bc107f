"""Synthetic LookBook: format, counts and byte-level determinism, on a tiny archive."""

import csv
import hashlib
import io
import re
import tarfile

import numpy as np
import pytest
from PIL import Image

from pldt_jax_datasets.lookbook import synthetic, taxonomy

TINY = synthetic.SizeSpec(num_products=5, num_photos=36)
NAME = re.compile(r"^PID(\d{6})_CLEAN([01])_IID(\d{6})\.jpg$")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return synthetic.write_archive(tmp_path_factory.mktemp("tiny"), TINY, seed=0)


def _members(tar_path):
    with tarfile.open(tar_path) as tar:
        return [(info, tar.extractfile(info).read()) for info in tar.getmembers()]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_public_vocabularies():
    assert len(taxonomy.CATEGORIES) >= 4
    assert len(taxonomy.COLORS) >= 8
    assert len(taxonomy.PATTERNS) >= 5 and taxonomy.PATTERNS[0] == "solid"
    assert set(synthetic.SIZES) == {"small", "medium", "full"}


def test_medium_plan_keeps_the_archive_photos_per_product():
    products = synthetic.plan("medium", seed=0)
    counts = np.array([p.num_photos for p in products])
    assert (len(products), counts.sum()) == (2400, 18928)
    assert counts.min() >= 3 and counts.max() <= 12
    assert abs(counts.sum() / len(products) - 68820 / 8726) < 0.01


def test_full_plan_has_the_public_archive_counts():
    products = synthetic.plan("full", seed=0)
    counts = np.array([p.num_photos for p in products])
    assert len(products) == 8726
    assert counts.sum() == 68820
    assert counts.min() >= 3 and counts.max() <= 12
    assert [p.product_id for p in products] == list(range(8726))


def test_plan_labels_are_valid_and_products_independent():
    products = synthetic.plan(TINY, seed=3)
    for p in products:
        assert 0 <= p.category < len(taxonomy.CATEGORIES)
        assert 0 <= p.pattern < len(taxonomy.PATTERNS)
        assert 0 <= p.color < len(taxonomy.COLORS)
        assert 0 <= p.pattern_color < len(taxonomy.COLORS) and p.pattern_color != p.color
    # A product's labels depend on (seed, product id) only, not on how many products there are.
    larger = synthetic.plan(synthetic.SizeSpec(9, 70), seed=3)
    labels = [p[: len(synthetic.ATTRIBUTE_FIELDS)] for p in products]
    assert labels == [p[: len(synthetic.ATTRIBUTE_FIELDS)] for p in larger[: len(products)]]


def test_plan_rejects_impossible_photo_totals():
    with pytest.raises(ValueError):
        synthetic.plan(synthetic.SizeSpec(num_products=2, num_photos=25), seed=0)


def test_archive_layout(archive):
    products = synthetic.plan(TINY, seed=0)
    members = _members(archive.tar_path)
    parsed = [NAME.match(info.name.removeprefix("lookbook/data/")) for info, _ in members]
    assert all(info.name.startswith("lookbook/data/") for info, _ in members)
    assert all(parsed)
    image_ids = [int(m.group(3)) for m in parsed]
    assert len(set(image_ids)) == len(image_ids)
    for p in products:
        cleans = [int(m.group(2)) for m in parsed if int(m.group(1)) == p.product_id]
        assert cleans.count(1) == 1
        assert cleans.count(0) == p.num_photos and 3 <= p.num_photos <= 12
    assert len(members) == TINY.num_products + TINY.num_photos
    for (info, data), m in zip(members, parsed, strict=True):
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (
            synthetic._MTIME,
            0,
            0,
            "",
            "",
        )
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.mode == "RGB"
        if m.group(2) == "0":
            assert image.height > image.width  # person photos are portrait


def test_attributes_csv_matches_plan(archive):
    with open(archive.attributes_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(synthetic.ATTRIBUTE_FIELDS)
    expected = [
        [str(v) for v in p[: len(synthetic.ATTRIBUTE_FIELDS)]] for p in synthetic.plan(TINY, seed=0)
    ]
    assert rows[1:] == expected


def test_same_seed_same_bytes_other_seed_differs(archive, tmp_path):
    # Through a worker pool, too: products are rendered independently and written in order.
    again = synthetic.write_archive(tmp_path / "again", TINY, seed=0, num_workers=2)
    other = synthetic.write_archive(tmp_path / "other", TINY, seed=1)
    assert _digest(again.tar_path) == _digest(archive.tar_path)
    assert _digest(again.attributes_path) == _digest(archive.attributes_path)
    assert _digest(other.tar_path) != _digest(archive.tar_path)


def test_reuses_matching_archive_and_rebuilds_otherwise(tmp_path):
    first = synthetic.write_archive(tmp_path, TINY, seed=0)
    stamp = first.tar_path.stat().st_mtime_ns
    assert synthetic.write_archive(tmp_path, TINY, seed=0) == first
    assert first.tar_path.stat().st_mtime_ns == stamp
    small = synthetic.SizeSpec(num_products=3, num_photos=9)
    synthetic.write_archive(tmp_path, small, seed=0)
    assert len(_members(first.tar_path)) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [synthetic.TAR_NAME, taxonomy.ATTRIBUTES_FILENAME, synthetic.MANIFEST_NAME]
    )


def test_interrupted_write_leaves_no_archive(tmp_path, monkeypatch):
    def crash(task):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "_render", crash)
    with pytest.raises(KeyboardInterrupt):
        synthetic.write_archive(tmp_path, TINY, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_product_shot_draws_the_archives_shot_again_or_with_another_framing_or_phase(archive):
    """`product_shot` is the shot in the archive to the byte, so a ceiling measured with its
    other framings and phases (benchmarks/retrieval_ceiling.py) is of the shots retrieval
    searches; a phase moves a pattern and leaves a plain garment as it was."""
    shots = {
        int(m.group(1)): data
        for info, data in _members(archive.tar_path)
        if (m := NAME.match(info.name.removeprefix("lookbook/data/"))) and m.group(2) == "1"
    }
    products = synthetic.plan(TINY, seed=0)
    for product in products:
        assert synthetic.product_shot(0, product) == shots[product.product_id]
        framing = synthetic.shot_framing(0, product)
        assert 200 <= framing.height <= 320 and 0.72 <= framing.fill <= 0.88
    middle = synthetic.product_shot(0, products[0], synthetic.MIDDLE_SHOT_FRAMING)
    assert Image.open(io.BytesIO(middle)).size == (227, 260)
    striped = synthetic.Product(0, 0, 0, taxonomy.PATTERNS.index("vertical-stripes"), 1, 3)
    plain = striped._replace(pattern=taxonomy.PATTERNS.index("solid"))
    for product, moves in ((striped, True), (plain, False)):
        shifted = synthetic.product_shot(0, product, phase=(0.5, 0.5))
        assert (shifted != synthetic.product_shot(0, product)) == moves
