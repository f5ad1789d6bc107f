"""Reading the archive in place: tar, zip and extracted folder read alike; the manual dir is
searched for the known names first."""

import zipfile
from pathlib import Path

import lookbook_archives as la

from pldt_jax_datasets.lookbook import archive, pairing


def _archive_pairs(path: Path) -> tuple[dict[int, str], list[tuple[int, int]]]:
    products, photos, _ = pairing.scan_archive(path)
    return (
        {pid: Path(member.name).name for pid, member in products.items()},
        sorted((photo.image_id, photo.product_id) for photo in photos),
    )


def test_zip_and_folder_read_like_the_tar(tmp_path):
    members = la.good_members([1, 2, 3])
    tar = la.write_tar(tmp_path / "lookbook.tar", members)
    with zipfile.ZipFile(tmp_path / "lookbook.zip", "w") as zip_file:
        for name, data in members.items():
            zip_file.writestr(name, data)
    folder = tmp_path / "extracted"
    for name, data in members.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    expected = _archive_pairs(tar)
    assert len(expected[1]) == 6
    assert _archive_pairs(tmp_path / "lookbook.zip") == expected
    assert _archive_pairs(folder) == expected

    def pngs(path):
        products, _, _ = pairing.scan_archive(path)
        return [png for _, png in archive.preprocess_members(path, list(products.values()), 64, 2)]

    assert pngs(tmp_path / "lookbook.zip") == pngs(tar) == pngs(folder)


def test_find_archive_prefers_known_names(tmp_path):
    assert archive.find_archive(tmp_path) is None
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "PID000001_CLEAN1_IID000001.jpg").write_bytes(b"")
    assert archive.find_archive(tmp_path) == tmp_path
    (tmp_path / "lookbook").mkdir()
    assert archive.find_archive(tmp_path) == tmp_path / "lookbook"
    (tmp_path / "lookbook.zip").write_bytes(b"")
    assert archive.find_archive(tmp_path) == tmp_path / "lookbook.zip"
    (tmp_path / "lookbook.tar").write_bytes(b"")
    assert archive.find_archive(tmp_path) == tmp_path / "lookbook.tar"
