"""Bad input never corrupts LookBook: each bad file is skipped with a reason, the rest is intact."""

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import lookbook_archives as la
import numpy as np
import pytest
from PIL import Image

from pldt_jax import config as config_lib
from pldt_jax import prepare
from pldt_jax_datasets.lookbook import archive, pairing
from pldt_jax_datasets.lookbook.preprocessing import ImageError
from pldt_jax_datasets.lookbook.skip_report import SkipReport
from pldt_jax_datasets.lookbook.taxonomy import read_attributes

GOOD = la.product_ids({"train": 3, "validation": 2, "test": 2})
GOOD_IDS = [pid for pids in GOOD.values() for pid in pids]
# Products with problems, all in the train split so that every split keeps two good products.
B = la.product_ids({"train": 8}, start=100)["train"]
PRODUCT = GOOD["train"][0]  # A good product that bad members also claim.
MAX_MEMBER_BYTES = 100_000  # Patched in for the build, so a "too large" member stays small.


def noisy_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    return la.encoded(Image.fromarray(rng.integers(0, 255, (96, 64, 3), np.uint8)), "JPEG")


def palette_png(color) -> bytes:
    image = Image.new("P", (24, 32), 1)
    image.putpalette([0, 0, 0, *color] + [0] * 762)
    return la.encoded(image, "PNG")


# Photos of PRODUCT in other modes: converted, kept. image id -> (file bytes, colour at centre).
MODE_PHOTOS = {
    500: (la.jpeg((90, 90, 90), mode="L"), (90, 90, 90)),
    501: (la.jpeg((200, 40, 40), mode="CMYK"), (200, 40, 40)),
    502: (la.encoded(Image.new("RGBA", (24, 32), (30, 160, 60, 255)), "PNG"), (30, 160, 60)),
    503: (palette_png((10, 20, 230)), (10, 20, 230)),
    504: (la.encoded(Image.fromarray(np.full((32, 24), 257 * 70, np.uint16)), "PNG"), (70,) * 3),
}


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def write_bad_tar(path: Path) -> dict[str, list[str]]:
    """The good dummy products plus every kind of bad member; returns the expected report."""
    n = la.name
    files = la.good_members(GOOD_IDS)
    files.update({n(PRODUCT, False, iid): data for iid, (data, _) in MODE_PHOTOS.items()})
    expected = {
        "not an image": [n(B[0], False, 1001), n(B[7], True, 1060)],
        "corrupt": [n(B[0], False, 1003)],
        "empty file": [n(B[0], False, 1004)],
        "too large": [n(B[0], False, 1005)],
        "name not PID%06d_CLEAN%d_IID%06d.jpg": [
            "lookbook/data/PID12_CLEAN0_IID5.jpg",
            n(PRODUCT, False, 900).replace("CLEAN0", "CLEAN2"),
            "lookbook/data/photo.jpg",
        ],
        "product without photos": [n(B[1], True, 1010)],
        "photo without product image": [
            n(B[2], False, 1011),
            n(B[5], False, 1032),
            n(B[5], False, 1033),
            n(B[7], False, 1061),
            n(B[7], False, 1062),
        ],
        "duplicate image id": [
            n(B[3], False, 1021),
            n(B[4], False, 1021),
            n(B[3], False, 1023),
            n(B[3], False, 1023),
        ],
        "several product images for one product": [n(B[5], True, 1030), n(B[5], True, 1031)],
        "not a .jpg file": ["lookbook/README.txt", n(PRODUCT, False, 950)[:-4] + ".png"],
        "macOS metadata": [
            "__MACOSX/lookbook/data/._" + Path(n(PRODUCT, False, 2)).name,
            "lookbook/.DS_Store",
        ],
        "unsafe path (absolute or '..')": [
            "/abs/" + n(PRODUCT, False, 1040),
            "../" + Path(n(PRODUCT, False, 1041)).name,
            "lookbook/../../" + Path(n(PRODUCT, False, 1042)).name,
        ],
        "link or special file": [
            n(PRODUCT, False, 1050),
            n(PRODUCT, False, 1051),
            n(PRODUCT, False, 1052),
        ],
        "file too large": [n(PRODUCT, False, 1070)],
    }
    good_product = la.jpeg((1, 2, 3), (32, 32))
    bad_files = {
        n(B[0], True, 1000): good_product,
        n(B[0], False, 1002): la.jpeg((50, 60, 70)),
        n(B[0], False, 1001): b"\xff\xd8 not really a jpeg",
        n(B[0], False, 1003): noisy_jpeg()[:2000],
        n(B[0], False, 1004): b"",
        n(B[0], False, 1005): la.png_header_only(10_000, 10_000),
        n(B[1], True, 1010): good_product,
        n(B[2], False, 1011): la.jpeg((5, 5, 5)),
        n(B[3], True, 1020): good_product,
        n(B[3], False, 1022): la.jpeg((80, 80, 80)),
        n(B[5], True, 1030): good_product,
        n(B[5], True, 1031): good_product,
        n(B[5], False, 1032): la.jpeg((5, 5, 5)),
        n(B[5], False, 1033): la.jpeg((5, 5, 5)),
        n(B[7], True, 1060): b"garbage",
        n(B[7], False, 1061): la.jpeg((5, 5, 5)),
        n(B[7], False, 1062): la.jpeg((5, 5, 5)),
        n(PRODUCT, False, 1070): noisy_jpeg() + b"\0" * MAX_MEMBER_BYTES,
    }
    for reason in ("name not PID%06d_CLEAN%d_IID%06d.jpg", "not a .jpg file", "macOS metadata"):
        bad_files.update({name: la.jpeg((5, 5, 5)) for name in expected[reason]})
    bad_files.update(
        {name: la.jpeg((5, 5, 5)) for name in expected["unsafe path (absolute or '..')"]}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        tar.addfile(special("lookbook/data", tarfile.DIRTYPE))  # Folders are not reported.
        for name, data in {**files, **bad_files}.items():
            la.add_file(tar, name, data)
        la.add_file(tar, n(B[4], False, 1021), la.jpeg((5, 5, 5)))  # Same IID, other product.
        la.add_file(tar, n(B[3], False, 1023), la.jpeg((5, 5, 5)))
        la.add_file(tar, n(B[3], False, 1023), la.jpeg((6, 6, 6)))  # Same name twice.
        la.add_file(tar, n(B[3], False, 1021), la.jpeg((5, 5, 5)))
        tar.addfile(special(n(PRODUCT, False, 1050), tarfile.SYMTYPE, "/etc/passwd"))
        tar.addfile(special(n(PRODUCT, False, 1051), tarfile.LNKTYPE, n(PRODUCT, False, 2)))
        tar.addfile(special(n(PRODUCT, False, 1052), tarfile.CHRTYPE))
    return expected


def make_config(tmp_path: Path, manual_dir: Path):
    config = config_lib.default_config()
    config.dataset.data_dir = str(tmp_path / "data")
    config.dataset.manual_dir = str(manual_dir)
    return config


@pytest.fixture(scope="module")
def bad_build(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bad")
    expected = write_bad_tar(tmp_path / "manual" / "lookbook.tar")
    config = make_config(tmp_path, tmp_path / "manual")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pairing, "MAX_MEMBER_BYTES", MAX_MEMBER_BYTES)
        builder = prepare.ensure_prepared(config)
    return builder, prepare.load_data_sources(config), expected


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_each_bad_member_is_skipped_with_its_reason(bad_build):
    builder, _, expected = bad_build
    report = builder.skip_report
    assert {reason: sorted(report.names(reason)) for reason in report.skipped} == {
        reason: sorted(names) for reason, names in expected.items()
    }
    summary = report.summary()
    assert f"skipped {sum(map(len, expected.values()))} " in summary
    assert "duplicate image id" in summary
    saved = builder.info.metadata["skipped"]
    assert {reason: entry["count"] for reason, entry in saved.items()} == {
        reason: len(names) for reason, names in expected.items()
    }


def test_good_examples_are_intact_and_correctly_paired(bad_build):
    _, sources, _ = bad_build
    examples = [source[i] for source in sources.values() for i in range(len(source))]
    by_image = {int(e["image_id"]): e for e in examples}
    good_photos = {
        pairing.parse_name(name).image_id: pairing.parse_name(name).product_id
        for name in la.good_members(GOOD_IDS)
        if not pairing.parse_name(name).is_product
    }
    expected_pairs = {**good_photos, **dict.fromkeys(MODE_PHOTOS, PRODUCT), 1002: B[0], 1022: B[3]}
    assert {iid: int(e["product_id"]) for iid, e in by_image.items()} == expected_pairs
    for iid, pid in good_photos.items():
        source = by_image[iid]["source"][32, 32].astype(int)
        np.testing.assert_allclose(source, la.color_of(pid, iid), atol=4)
    for iid, (_, colour) in MODE_PHOTOS.items():
        np.testing.assert_allclose(by_image[iid]["source"][32, 32].astype(int), colour, atol=6)
    for example in examples:
        assert int(example["negative_product_id"]) != int(example["product_id"])


def test_not_lookbook_at_all_fails_clearly(tmp_path):
    la.write_tar(
        tmp_path / "manual" / "lookbook.tar", {"a.txt": b"hi", "b/c.jpg": la.jpeg((1, 1, 1))}
    )
    with pytest.raises(prepare.DatasetError, match="not a LookBook archive"):
        prepare.ensure_prepared(make_config(tmp_path, tmp_path / "manual"))

    (tmp_path / "manual" / "lookbook.tar").write_text("not an archive")
    with pytest.raises(prepare.DatasetError, match="not a readable tar or zip"):
        prepare.ensure_prepared(make_config(tmp_path, tmp_path / "manual"))


def test_nothing_usable_fails_and_leaves_no_dataset(tmp_path):
    members = {
        name: (data if pairing.parse_name(name).is_product else b"")
        for name, data in la.good_members(GOOD_IDS).items()
    }
    la.write_tar(tmp_path / "manual" / "lookbook.tar", members)
    config = make_config(tmp_path, tmp_path / "manual")
    with pytest.raises(prepare.DatasetError, match="no usable photo(.|\n)*empty file"):
        prepare.ensure_prepared(config)
    assert not prepare.get_builder(config).is_prepared()


def test_splits_too_small_fail_with_the_report(tmp_path):
    members = la.good_members(GOOD["train"] + GOOD["validation"])  # No test product.
    la.write_tar(tmp_path / "manual" / "lookbook.tar", members)
    with pytest.raises(prepare.DatasetError, match="test split has 0 usable products"):
        prepare.ensure_prepared(make_config(tmp_path, tmp_path / "manual"))


def test_truncated_archive_keeps_what_precedes_the_damage(tmp_path):
    full = la.write_tar(tmp_path / "full.tar", la.good_members(GOOD_IDS))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    products, photos, report = pairing.scan_archive(cut)
    _, full_photos, _ = pairing.scan_archive(full)
    assert 0 < len(photos) < len(full_photos)
    assert {p.image_id for p in photos} < {p.image_id for p in full_photos}
    assert report.total > 0
    results = dict(archive.preprocess_members(cut, [p.member for p in photos], 64, 1))
    assert all(isinstance(r, bytes | ImageError) for r in results.values())


def test_zip_with_unsafe_links_and_corrupt_members(tmp_path):
    good = la.good_members([PRODUCT])
    path = tmp_path / "lookbook.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zip_file:
        for name, data in good.items():
            zip_file.writestr(name, data)
        zip_file.writestr("../" + Path(la.name(PRODUCT, False, 10)).name, la.jpeg((1, 1, 1)))
        link = zipfile.ZipInfo(la.name(PRODUCT, False, 11))
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zip_file.writestr(link, "/etc/passwd")
        zip_file.writestr("lookbook/data/", b"")
    products, photos, report = pairing.scan_archive(path)
    assert report.names("unsafe path (absolute or '..')") == [
        "../" + Path(la.name(PRODUCT, False, 10)).name
    ]
    assert report.names("link or special file") == [la.name(PRODUCT, False, 11)]
    assert len(photos) == 2 and list(products) == [PRODUCT]

    # Corrupt the stored bytes of one photo: the CRC check makes it an unreadable member.
    photo_data = good[la.name(PRODUCT, False, 2)]
    raw = path.read_bytes()
    at = raw.index(photo_data) + len(photo_data) // 2
    path.write_bytes(raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :])
    results = {
        member.name: result
        for member, result in archive.preprocess_members(path, [p.member for p in photos], 64, 1)
    }
    assert results[la.name(PRODUCT, False, 2)].kind == "unreadable member"
    assert isinstance(results[la.name(PRODUCT, False, 3)], bytes)


def test_folder_skips_links(tmp_path):
    root = tmp_path / "lookbook"
    for name, data in la.good_members([PRODUCT]).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    data_dir = root / "lookbook" / "data"
    os.symlink("/etc/passwd", data_dir / Path(la.name(PRODUCT, False, 20)).name)
    os.symlink(data_dir, root / "linked_dir")
    _, photos, report = pairing.scan_archive(root)
    assert sorted(report.names("link or special file")) == [
        "linked_dir",
        Path(la.name(PRODUCT, False, 20)).as_posix(),
    ]
    assert len(photos) == 2


def test_attributes_table_skips_bad_rows(tmp_path):
    path = tmp_path / "lookbook_attributes.csv"
    path.write_text(
        "product_id,category,color,pattern,pattern_color\n"
        "1,0,1,2,3\n2,x,1,2,3\n3,1,1,1,1\n3,2,2,2,2\n4,3,2,1\n"
    )
    report = SkipReport()
    assert read_attributes(path, report) == {1: (0, 1, 2, 3)}
    assert set(report.skipped) == {"bad attributes row", "product with several attribute rows"}
    assert report.names("bad attributes row") == [f"{path.name}:3", f"{path.name}:6"]
    path.write_text("product_id,category\n1,0\n")
    assert read_attributes(path, SkipReport()) == {}
    assert read_attributes(tmp_path / "absent.csv", SkipReport()) == {}


def test_encode_member_returns_errors_instead_of_raising():
    data = io.BytesIO()
    Image.new("RGB", (8, 8)).save(data, format="GIF")
    assert archive.encode_member(data.getvalue(), 64)[:8] == b"\x89PNG\r\n\x1a\n"
    assert archive.encode_member(b"", 64).kind == "empty file"
