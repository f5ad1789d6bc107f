"""LookBook (Yoo et al., ECCV 2016): photos of dressed people paired with product images.

The build is a chain of small pure steps, each testable alone:
list the archive's members -> keep the safe, well-named ones -> pair photos with
their product image -> split by product -> decode and preprocess (`pldt_jax.images`)
-> one example per person photo, with the image of another product as negative.
Bad members never stop the build: each is skipped with a reason, counted in a
`SkipReport` that is logged, kept on the builder and saved in the dataset metadata.
"""

from __future__ import annotations

import bisect
import collections
import concurrent.futures
import contextlib
import csv
import dataclasses
import hashlib
import itertools
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from pldt_jax import images

SOURCES = ("real", "synthetic_small", "synthetic_medium", "synthetic_full")
RESOLUTIONS = (64, 128)
SPLITS = ("train", "validation", "test")
# Section 5.2: 5 % of the products for validation, 5 % for test, the rest for training.
SPLIT_FRACTIONS = {"train": 0.90, "validation": 0.05, "test": 0.05}
# Part of the dataset's definition: changing it reshuffles every split.
SPLIT_SEED = 0
ATTRIBUTES = ("category", "color", "pattern", "pattern_color")
UNKNOWN_ATTRIBUTE = -1
# Where an optional attributes table is looked for: beside the archive.
ATTRIBUTES_FILENAME = "lookbook_attributes.csv"  # As the synthetic archive names it.
# Names the manual dir is searched for, in this order.
ARCHIVE_NAMES = ("lookbook.tar", "lookbook.tar.gz", "lookbook.zip", "lookbook")
# No LookBook picture comes near this; a bigger member is not worth reading.
MAX_MEMBER_BYTES = 64 * 1024 * 1024
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


class DatasetMissingError(RuntimeError):
    """The LookBook archive is not in the manual dir; the message says how to get it."""


class LookBookArchiveError(ValueError):
    """The archive is not LookBook at all, or nothing usable is left in it."""


def builder_config_name(source: str, resolution: int) -> str:
    """The builder config for a data source at a resolution, e.g. 'real_64'."""
    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {SOURCES}")
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unsupported resolution {resolution}; expected one of {RESOLUTIONS}")
    return f"{source}_{resolution}"


# ---------------------------------------------------------------------------
# Skip report


class SkipReport:
    """What was skipped and why: every (name, detail) per reason; reports show a few."""

    def __init__(self, max_examples: int = 3):
        self.skipped: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
        self._max_examples = max_examples

    def add(self, reason: str, name: str, detail: str = "") -> None:
        self.skipped[reason].append((name, detail))

    @property
    def total(self) -> int:
        return sum(len(entries) for entries in self.skipped.values())

    def names(self, reason: str) -> list[str]:
        return [name for name, _ in self.skipped.get(reason, [])]

    def _examples(self, reason: str) -> list[str]:
        entries = self.skipped[reason][: self._max_examples]
        return [f"{name} ({detail})" if detail else name for name, detail in entries]

    def as_dict(self) -> dict[str, dict]:
        """Counts and examples per reason, as saved in the dataset's metadata."""
        return {
            reason: {"count": len(entries), "examples": self._examples(reason)}
            for reason, entries in sorted(self.skipped.items())
        }

    def summary(self) -> str:
        if not self.skipped:
            return "LookBook: nothing skipped."
        lines = [f"LookBook: skipped {self.total} files or archive members:"]
        for reason, entries in sorted(self.skipped.items(), key=lambda item: -len(item[1])):
            lines.append(f"  {len(entries):6d} {reason}, e.g. {'; '.join(self._examples(reason))}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# Archives: tar (any compression), zip or folder, read in place, never extracted.


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
        raise images.ImageError(f"cannot read member: {error}", kind="unreadable member") from error


# ---------------------------------------------------------------------------
# Names and pairing (pure).


class ImageName(NamedTuple):
    product_id: int
    is_product: bool  # CLEAN1: the product shot; CLEAN0: a person wearing it.
    image_id: int


class Photo(NamedTuple):
    image_id: int
    product_id: int
    member: Member


def parse_name(path: str) -> ImageName | None:
    """Parses `.../PID%06d_CLEAN%d_IID%06d.jpg`; None for any other name."""
    match = NAME_PATTERN.fullmatch(PurePosixPath(path).name)
    if match is None:
        return None
    product_id, clean, image_id = match.groups()
    return ImageName(int(product_id), clean == "1", int(image_id))


def member_problem(member: Member) -> str | None:
    """Why a member cannot be a LookBook image, or None if its name parses."""
    parts = PurePosixPath(member.name).parts
    basename = parts[-1] if parts else ""
    if member.name.startswith(("/", "\\")) or ".." in parts or re.match(r"[A-Za-z]:", member.name):
        return "unsafe path (absolute or '..')"
    if "__MACOSX" in parts or basename.startswith("._") or basename == ".DS_Store":
        return "macOS metadata"
    if member.kind != "file":
        return "link or special file"
    if not basename.lower().endswith((".jpg", ".jpeg")):
        return "not a .jpg file"
    if parse_name(member.name) is None:
        return "name not PID%06d_CLEAN%d_IID%06d.jpg"
    if member.size > MAX_MEMBER_BYTES:
        return "file too large"
    return None


def named_members(members: Iterable[Member], report: SkipReport) -> list[tuple[Member, ImageName]]:
    """The members that may be LookBook images, with their parsed names."""
    named = []
    for member in members:
        if member.kind == "dir":
            continue
        problem = member_problem(member)
        if problem is None:
            named.append((member, parse_name(member.name)))
        else:
            report.add(problem, member.name)
    return named


def pair_images(
    named: Sequence[tuple[Member, ImageName]], report: SkipReport
) -> tuple[dict[int, Member], list[Photo]]:
    """Products (id -> product image) and the photos whose product has an image.

    Ambiguity is never resolved by guessing: every file of a duplicated image id,
    and every product image of a product that has several, is skipped.
    """
    by_image_id = collections.defaultdict(list)
    for member, name in named:
        by_image_id[name.image_id].append((member, name))
    unique = []
    for image_id in sorted(by_image_id):
        entries = by_image_id[image_id]
        if len(entries) == 1:
            unique.append(entries[0])
            continue
        for member, _ in entries:
            report.add("duplicate image id", member.name, f"IID {image_id} used {len(entries)}x")

    product_images = collections.defaultdict(list)
    for member, name in unique:
        if name.is_product:
            product_images[name.product_id].append(member)
    products = {}
    for product_id, members in sorted(product_images.items()):
        if len(members) == 1:
            products[product_id] = members[0]
            continue
        for member in members:
            report.add("several product images for one product", member.name)

    photos = []
    for member, name in unique:
        if name.is_product:
            continue
        if name.product_id in products:
            photos.append(Photo(name.image_id, name.product_id, member))
        else:
            report.add("photo without product image", member.name)
    with_photos = {photo.product_id for photo in photos}
    for product_id in sorted(set(products) - with_photos):
        report.add("product without photos", products.pop(product_id).name)
    return products, photos


def scan_archive(
    path: str | os.PathLike, report: SkipReport | None = None
) -> tuple[dict[int, Member], list[Photo], SkipReport]:
    """Lists and pairs an archive's images without decoding them.

    Raises `LookBookArchiveError` when no member name parses (not LookBook) or
    no photo has a product image.
    """
    report = report or SkipReport()
    with open_archive(path) as archive:
        members = archive.members(report)
    named = named_members(members, report)
    if not named:
        raise LookBookArchiveError(
            f"{path} is not a LookBook archive: none of its {len(members)} entries is named "
            f"like PID%06d_CLEAN%d_IID%06d.jpg.\n{report.summary()}"
        )
    products, photos = pair_images(named, report)
    if not photos:
        raise LookBookArchiveError(
            f"{path}: no person photo has a usable product image.\n{report.summary()}"
        )
    return products, photos, report


# ---------------------------------------------------------------------------
# Splits and negatives (pure, deterministic).


def _unit_hash(text: str) -> float:
    """A stable hash of `text` in [0, 1), the same on every machine and run."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_of(product_id: int, seed: int = SPLIT_SEED) -> str:
    """The split of a product: by a hash of its id, so splits never share a product
    and a product keeps its split when others are added."""
    u = _unit_hash(f"{seed}:{product_id}")
    bound = 0.0
    for split in SPLITS:
        bound += SPLIT_FRACTIONS[split]
        if u < bound:
            return split
    return SPLITS[-1]


def negative_of(image_id: int, product_id: int, split_products: Sequence[int]) -> int:
    """A product of the same split other than `product_id`, drawn by the image id.

    `split_products` is the split's sorted product ids and contains `product_id`.
    """
    others = len(split_products) - 1
    own = bisect.bisect_left(split_products, product_id)
    if others < 1 or own > others or split_products[own] != product_id:
        raise ValueError(f"product {product_id} and another must be in {split_products}")
    index = int(_unit_hash(f"negative:{image_id}") * others)
    return split_products[index + (index >= own)]


def plan_splits(
    product_ids: Iterable[int], photos: Iterable[Photo]
) -> dict[str, tuple[list[int], list[Photo]]]:
    """Per split: its sorted product ids and its photos, in archive order.

    Raises `LookBookArchiveError` when a split has fewer than two products
    (no negative could be drawn), which only happens with tiny archives.
    """
    product_ids = set(product_ids)
    plan = {split: ([], []) for split in SPLITS}
    for product_id in sorted(product_ids):
        plan[split_of(product_id)][0].append(product_id)
    for photo in sorted(photos, key=lambda photo: photo.member.index):
        if photo.product_id in product_ids:
            plan[split_of(photo.product_id)][1].append(photo)
    for split, (split_products, split_photos) in plan.items():
        if len(split_products) < 2 or not split_photos:
            raise LookBookArchiveError(
                f"the {split} split has {len(split_products)} usable products and "
                f"{len(split_photos)} photos; each split needs at least 2 products "
                f"(splits are {SPLIT_FRACTIONS} of the {len(product_ids)} products)."
            )
    return plan


# ---------------------------------------------------------------------------
# Attributes.


def read_attributes(path: Path, report: SkipReport) -> dict[int, tuple[int, ...]]:
    """Product id -> (category, color, pattern, pattern_color) from an optional CSV."""
    if not path.is_file():
        return {}
    try:
        rows = _attribute_rows(path, report)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        report.add("unreadable attributes file", path.name, str(error))
        return {}
    attributes = {}
    for product_id, values in rows.items():
        if len(values) == 1:
            attributes[product_id] = values[0]
        else:
            report.add("product with several attribute rows", f"{path.name}: {product_id}")
    return attributes


def _attribute_rows(path: Path, report: SkipReport) -> dict[int, list[tuple[int, ...]]]:
    rows = collections.defaultdict(list)
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = {"product_id", *ATTRIBUTES} - set(reader.fieldnames or ())
        if missing:
            report.add("attributes file without needed columns", path.name, str(sorted(missing)))
            return rows
        for line, row in enumerate(reader, start=2):
            try:
                rows[int(row["product_id"])].append(tuple(int(row[key]) for key in ATTRIBUTES))
            except (TypeError, ValueError):
                report.add("bad attributes row", f"{path.name}:{line}")
    return rows


# ---------------------------------------------------------------------------
# Decoding (the one path for real and synthetic archives).


def encode_member(data: bytes | images.ImageError, resolution: int) -> bytes | images.ImageError:
    """PNG of the preprocessed image, or the error (returned, so a batch goes on)."""
    if isinstance(data, images.ImageError):
        return data
    try:
        return images.encode_png(images.load_and_preprocess(data, resolution))
    except images.ImageError as error:
        return error


def preprocess_members(
    path: Path, members: Sequence[Member], resolution: int, num_workers: int
) -> Iterator[tuple[Member, bytes | images.ImageError]]:
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


def _read_or_error(archive, member: Member) -> bytes | images.ImageError:
    try:
        return read_member(archive, member)
    except images.ImageError as error:
        return error


def _default_num_workers() -> int:
    if hasattr(os, "sched_getaffinity"):  # The CPUs this process may use (Linux).
        return min(8, len(os.sched_getaffinity(0)))
    return min(8, os.cpu_count() or 1)


# ---------------------------------------------------------------------------
# Finding the archive.


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


# ---------------------------------------------------------------------------
# The TFDS builder.


@dataclasses.dataclass(eq=False)
class LookBookConfig(tfds.core.BuilderConfig):
    """A data source ('real' or a synthetic size) at a resolution (64 or 128)."""

    source: str = "real"
    resolution: int = 64


def _make_configs() -> list[LookBookConfig]:
    descriptions = {
        "real": "The LookBook archive (manual download)",
        "synthetic_small": "A small generated stand-in for LookBook",
        "synthetic_medium": "A generated stand-in for LookBook at a quarter of its products",
        "synthetic_full": "A generated stand-in for LookBook at full size",
    }
    return [
        LookBookConfig(
            name=builder_config_name(source, resolution),
            description=f"{descriptions[source]}, at {resolution}x{resolution} px.",
            source=source,
            resolution=resolution,
        )
        for source in SOURCES
        for resolution in RESOLUTIONS
    ]


class Builder(tfds.core.GeneratorBasedBuilder):
    """LookBook person photos, their product images and an irrelevant product each.

    After a build, `skip_report` holds what was skipped and why; the counts and a
    few examples per reason are also saved as `info.metadata["skipped"]`.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = _make_configs()  # real_64 first: the default.
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

    def __init__(self, *, num_workers: int | None = None, **kwargs):
        """`num_workers`: decoding threads (default: the CPUs, up to 8)."""
        kwargs.setdefault("file_format", "array_record")  # Random access, no TensorFlow.
        super().__init__(**kwargs)
        self.num_workers = num_workers or _default_num_workers()
        self.skip_report = SkipReport()

    def _info(self) -> tfds.core.DatasetInfo:
        resolution = self.builder_config.resolution
        image = tfds.features.Image(shape=(resolution, resolution, 3), encoding_format="png")
        label = tfds.features.Scalar(np.int64, doc="Integer label, -1 when unknown.")
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "source": image,
                    "target": image,
                    "negative": image,
                    "product_id": np.int64,
                    "negative_product_id": np.int64,
                    "image_id": np.int64,
                    **{name: label for name in ATTRIBUTES},
                }
            ),
            supervised_keys=("source", "target"),
            homepage="https://arxiv.org/abs/1603.07442",
            metadata=tfds.core.MetadataDict(),
        )

    def _archive(self, dl_manager: tfds.download.DownloadManager) -> tuple[Path, Path]:
        """The archive to read and its attributes table (which may not exist)."""
        source = self.builder_config.source
        if source == "real":
            try:
                manual_dir = Path(dl_manager.manual_dir)
            except AssertionError as error:  # TFDS: missing or empty; says where and how.
                raise DatasetMissingError(str(error)) from error
            archive = find_archive(manual_dir)
            if archive is None:
                raise DatasetMissingError(missing_archive_message(manual_dir))
            return archive, archive.parent / ATTRIBUTES_FILENAME
        from pldt_jax_datasets.lookbook import synthetic  # Heavy; only when needed.

        size = source.removeprefix("synthetic_")
        generated = synthetic.write_archive(
            Path(dl_manager.download_dir) / f"lookbook_synthetic_{size}", size, seed=0
        )
        return Path(generated.tar_path), Path(generated.attributes_path)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        self.skip_report = report = SkipReport()
        archive, attributes_path = self._archive(dl_manager)
        products, photos, _ = scan_archive(archive, report)
        attributes = read_attributes(attributes_path, report)
        product_pngs = self._decode_products(archive, products)
        photos = [photo for photo in photos if self._has_product(photo, product_pngs)]
        try:
            plan = plan_splits(product_pngs, photos)
        except LookBookArchiveError as error:
            raise LookBookArchiveError(f"{error}\n{report.summary()}") from error
        return {
            split: self._generate_examples(
                split, archive, split_products, split_photos, product_pngs, attributes
            )
            for split, (split_products, split_photos) in plan.items()
        }

    def _decode_products(self, archive: Path, products: Mapping[int, Member]) -> dict[int, bytes]:
        """Every product image once (each is reused as target and as negative)."""
        product_of = {member.index: product_id for product_id, member in products.items()}
        pngs = {}
        for member, result in preprocess_members(
            archive, list(products.values()), self.builder_config.resolution, self.num_workers
        ):
            if isinstance(result, images.ImageError):
                self.skip_report.add(result.kind, member.name, str(result))
            else:
                pngs[product_of[member.index]] = result
        return pngs

    def _has_product(self, photo: Photo, product_pngs: Mapping[int, bytes]) -> bool:
        if photo.product_id in product_pngs:
            return True
        self.skip_report.add(
            "photo without product image", photo.member.name, "product image unusable"
        )
        return False

    def _generate_examples(
        self,
        split: str,
        archive: Path,
        split_products: Sequence[int],
        photos: Sequence[Photo],
        product_pngs: Mapping[int, bytes],
        attributes: Mapping[int, tuple[int, ...]],
    ):
        photo_of = {photo.member.index: photo for photo in photos}
        unknown = (UNKNOWN_ATTRIBUTE,) * len(ATTRIBUTES)
        num_examples = 0
        for member, result in preprocess_members(
            archive,
            [photo.member for photo in photos],
            self.builder_config.resolution,
            self.num_workers,
        ):
            if isinstance(result, images.ImageError):
                self.skip_report.add(result.kind, member.name, str(result))
                continue
            photo = photo_of[member.index]
            negative = negative_of(photo.image_id, photo.product_id, split_products)
            labels = attributes.get(photo.product_id, unknown)
            num_examples += 1
            yield (
                photo.image_id,
                {
                    "source": result,
                    "target": product_pngs[photo.product_id],
                    "negative": product_pngs[negative],
                    "product_id": photo.product_id,
                    "negative_product_id": negative,
                    "image_id": photo.image_id,
                    **dict(zip(ATTRIBUTES, labels, strict=True)),
                },
            )
        self.info.metadata["skipped"] = self.skip_report.as_dict()
        if num_examples == 0:
            raise LookBookArchiveError(
                f"no usable photo in the {split} split.\n{self.skip_report.summary()}"
            )

    def _post_download_and_prepare_hook(self) -> None:
        log = logging.warning if self.skip_report.total else logging.info
        log("%s", self.skip_report.summary())
