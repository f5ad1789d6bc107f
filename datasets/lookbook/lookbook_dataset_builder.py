"""LookBook (Yoo et al., ECCV 2016): photos of dressed people paired with product images.

The TFDS builder, a chain of small pure steps, each in its module and testable alone:
find and list the archive (`archive`) -> keep the safe, well-named members, pair photos with
their product image, split by product (`pairing`) -> decode and preprocess (`preprocessing`)
-> one example per person photo, with the image of another product as negative, and the
product's labels (`taxonomy`). Bad members never stop the build: each is skipped with a
reason, counted in a `SkipReport` that is logged, kept on the builder and saved in the
dataset metadata. The synthetic sources generate their archive first (`synthetic`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from pldt_jax_datasets.lookbook.archive import (
    MANUAL_DOWNLOAD_INSTRUCTIONS,
    DatasetMissingError,
    LookBookArchiveError,
    Member,
    find_archive,
    missing_archive_message,
    preprocess_members,
)
from pldt_jax_datasets.lookbook.pairing import Photo, negative_of, plan_splits, scan_archive
from pldt_jax_datasets.lookbook.preprocessing import ImageError
from pldt_jax_datasets.lookbook.skip_report import SkipReport
from pldt_jax_datasets.lookbook.taxonomy import (
    ATTRIBUTES,
    ATTRIBUTES_FILENAME,
    UNKNOWN_ATTRIBUTE,
    read_attributes,
)

SOURCES = ("real", "synthetic_small", "synthetic_medium", "synthetic_full")
RESOLUTIONS = (64, 128)


def builder_config_name(source: str, resolution: int) -> str:
    """The builder config for a data source at a resolution, e.g. 'real_64'."""
    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {SOURCES}")
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unsupported resolution {resolution}; expected one of {RESOLUTIONS}")
    return f"{source}_{resolution}"


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
    # This file and its folder (README.md, CITATIONS.bib). TFDS would find them through the
    # top-level package, `pldt_jax_datasets`: a namespace package, which an editable install
    # does not resolve to one directory.
    code_path = epath.Path(__file__)
    pkg_dir_path = code_path.parent

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
            if isinstance(result, ImageError):
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
            if isinstance(result, ImageError):
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


def _default_num_workers() -> int:
    if hasattr(os, "sched_getaffinity"):  # The CPUs this process may use (Linux).
        return min(8, len(os.sched_getaffinity(0)))
    return min(8, os.cpu_count() or 1)
