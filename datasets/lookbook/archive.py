"""Finding and reading the LookBook archive in place: a tar (any compression), a zip or the
extracted folder, never extracted; its members read and preprocessed to PNG in parallel.

Reading never raises for one bad member: `read_member` turns a failure into an `ImageError`
like undecodable data, and `preprocess_members` returns such errors beside the good PNGs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from pldt_jax_datasets.lookbook.preprocessing import ImageError, encode_png, load_and_preprocess
from pldt_jax_datasets.lookbook.skip_report import SkipReport

# Names the manual dir is searched for, in this order.
ARCHIVE_NAMES = ("lookbook.tar", "lookbook.tar.gz", "lookbook.zip", "lookbook")
# How LookBook names its files: the product id, CLEAN1 for the product shot (CLEAN0 for a
# photo of a person wearing it), the image id.
NAME_PATTERN = re.compile(r"PID(\d{6,})_CLEAN([01])_IID(\d{6,})\.jpg")
_CHUNK = 256  # Members read at a time (bounds memory) and decoded in parallel.

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
LookBook is not downloaded automatically. Download `lookbook.tar` from the
authors' Google Drive (the link public PLDT implementations use):
  https://drive.google.com/file/d/0By_p0y157GxQU1dCRUU4SFNqaTQ/view
and put it, not extracted, in the manual dir: `--config.dataset.manual_dir=DIR`,
by default `<data_dir>/downloads/manual/`. `lookbook.zip` or the extracted
folder (`lookbook/data/PID*_CLEAN*_IID*.jpg`) work too. An optional
`lookbook_attributes.csv` (product_id,category,color,pattern,pattern_color) beside it
labels the products. Without the archive, `--config.dataset.source=synthetic_small`
trains on a generated stand-in.
"""


class LookBookError(Exception):
    """The dataset cannot be built; the message says why and, where it can, what to do."""


class DatasetMissingError(LookBookError):
    """The LookBook archive is not in the manual dir; the message says how to get it."""


class LookBookArchiveError(LookBookError):
    """The archive is not LookBook at all, or nothing usable is left in it."""


def find_archive(manual_dir: str | os.PathLike) -> Path | None:
    """The LookBook archive in `manual_dir`: a known name, else the folder itself
    when it holds LookBook-named JPEGs; None when there is none."""
    manual_dir = Path(manual_dir)
    for name in ARCHIVE_NAMES:
        candidate = manual_dir / name
        if candidate.is_file() or (candidate.is_dir() and name == "lookbook"):
            return candidate
    if manual_dir.is_dir():
        for _, _, filenames in os.walk(manual_dir):
            if any(NAME_PATTERN.fullmatch(filename) for filename in filenames):
                return manual_dir
    return None


def missing_archive_message(manual_dir: str | os.PathLike) -> str:
    return (
        f"No LookBook archive in {manual_dir} (looked for {', '.join(ARCHIVE_NAMES)} "
        f"or LookBook-named JPEGs).\n{MANUAL_DOWNLOAD_INSTRUCTIONS}"
    )


class Member(NamedTuple):
    """One entry of an archive. `ref` reads it back; `index` is its archive order."""

    name: str
    kind: str  # 'file', 'dir', 'link' (symbolic or hard) or 'other'.
    size: int
    index: int
    ref: object


class _TarArchive:
    def __init__(self, tar: tarfile.TarFile):
        self._tar = tar

    def members(self, report: SkipReport) -> list[Member]:
        members = []
        try:
            for index, info in enumerate(self._tar):
                members.append(Member(info.name, _tar_kind(info), info.size, index, info))
        except (tarfile.TarError, OSError, EOFError) as error:
            # A truncated download: keep what precedes the damage.
            report.add("damaged archive, rest unread", f"after member {len(members)}", str(error))
        return members

    def read(self, member: Member) -> bytes:
        file = self._tar.extractfile(member.ref)
        if file is None:
            raise OSError("not a regular file")
        return file.read()


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.isfile():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym() or info.islnk():
        return "link"
    return "other"


class _ZipArchive:
    def __init__(self, zip_file: zipfile.ZipFile):
        self._zip = zip_file

    def members(self, report: SkipReport) -> list[Member]:
        del report  # A zip's directory is read whole at opening.
        return [
            Member(info.filename, _zip_kind(info), info.file_size, index, info)
            for index, info in enumerate(self._zip.infolist())
        ]

    def read(self, member: Member) -> bytes:
        return self._zip.read(member.ref)


def _zip_kind(info: zipfile.ZipInfo) -> str:
    if info.is_dir():
        return "dir"
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        return "link"
    return "file" if file_type in (0, stat.S_IFREG) else "other"


class _FolderArchive:
    def __init__(self, path: Path):
        self._root = path

    def members(self, report: SkipReport) -> list[Member]:
        del report
        members = []
        for folder, dirnames, filenames in os.walk(self._root):  # Never follows links.
            dirnames.sort()
            linked_dirs = [d for d in dirnames if os.path.islink(os.path.join(folder, d))]
            for filename in sorted(filenames + linked_dirs):
                path = Path(folder, filename)
                info = path.lstat()
                kind = "file" if stat.S_ISREG(info.st_mode) else "other"
                kind = "link" if stat.S_ISLNK(info.st_mode) else kind
                name = path.relative_to(self._root).as_posix()
                members.append(Member(name, kind, info.st_size, len(members), path))
        return members

    def read(self, member: Member) -> bytes:
        return Path(member.ref).read_bytes()


@contextlib.contextmanager
def open_archive(path: str | os.PathLike) -> Iterator[_TarArchive | _ZipArchive | _FolderArchive]:
    """Opens a LookBook tar, zip or folder for listing and reading members in place."""
    path = Path(path)
    if path.is_dir():
        yield _FolderArchive(path)
        return
    is_zip = zipfile.is_zipfile(path)
    try:  # Opened apart from the `with` below to tell a bad archive from a bad member.
        opened = zipfile.ZipFile(path) if is_zip else tarfile.open(path, mode="r:*")  # noqa: SIM115
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise LookBookArchiveError(
            f"{path} is not a readable tar or zip archive: {error}"
        ) from error
    with opened:
        yield _ZipArchive(opened) if is_zip else _TarArchive(opened)


def read_member(archive, member: Member) -> bytes:
    """The member's bytes; failures to read become `ImageError` like undecodable data."""
    try:
        return archive.read(member)
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        RuntimeError,  # An encrypted zip member.
        NotImplementedError,  # An unsupported zip compression.
    ) as error:
        raise ImageError(f"cannot read member: {error}", kind="unreadable member") from error


def encode_member(data: bytes | ImageError, resolution: int) -> bytes | ImageError:
    """PNG of the preprocessed image, or the error (returned, so a batch goes on)."""
    if isinstance(data, ImageError):
        return data
    try:
        return encode_png(load_and_preprocess(data, resolution))
    except ImageError as error:
        return error


def preprocess_members(
    path: Path, members: Sequence[Member], resolution: int, num_workers: int
) -> Iterator[tuple[Member, bytes | ImageError]]:
    """Reads `members` in archive order (one pass) and preprocesses each to PNG.

    Threads suffice for parallelism: Pillow releases the GIL while decoding,
    resizing and encoding, and threads need no pickling nor process start-up.
    """
    ordered = sorted(members, key=lambda member: member.index)
    with (
        open_archive(path) as archive,
        concurrent.futures.ThreadPoolExecutor(num_workers) as pool,
    ):
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            data = [_read_or_error(archive, member) for member in chunk]
            results = pool.map(encode_member, data, itertools.repeat(resolution, len(chunk)))
            yield from zip(chunk, results, strict=True)


def _read_or_error(archive, member: Member) -> bytes | ImageError:
    try:
        return read_member(archive, member)
    except ImageError as error:
        return error
