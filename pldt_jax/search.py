"""Product search: from a photo of a dressed person to the nearest products of a catalogue.

python -m pldt_jax.search --workdir=DIR --input=PHOTO_OR_FOLDER [--catalogue=test] [--top=5]
    [--output=search]

Each photo is preprocessed as a training photo and converted into a product image by the
run's converter; the catalogue's products are then ranked two ways: by the distance of that
generated image to each product (`metrics.retrieval_distances`, the evaluation's retrieval)
and by the domain discriminator's score of (photo, product), PLDT's "Retrieval by DD-score".
Per photo, OUTPUT/<name>.png is a contact sheet (the photo as the model sees it, the generated
product, the top products by distance, the top products by DD-score, with their scores);
OUTPUT/results.json holds every ranking.

The catalogue is a split of the run's dataset (train, validation, test) or a folder of shop
images of any size and format, preprocessed as the dataset's products. The default, test,
holds products the run never saw, as a shop's new stock would be, and is the gallery of the
evaluation's `retrieval_top5`, so the two can be compared. The preprocessed catalogue and its
downscaled images are cached in DIR/search_cache/ (rebuilt when the checkpoint or the folder
changes): a second query skips decoding and preprocessing the catalogue. The DD-score judges
each (photo, product) pair as one input, so it has no per-product part to cache.

Photos and catalogue files that cannot be read are listed and skipped, as `sample` does; the
exit status is then 1.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np
from absl import flags, logging
from PIL import Image, ImageDraw, ImageFont

from pldt_jax import (
    checkpoints,
    cli,
    errors,
    images,
    inference,
    metrics,
    prepare,
    retrieval,
    sample,
    split_arrays,
)
from pldt_jax.train_step import TrainState
from pldt_jax_datasets.lookbook.pairing import SPLITS
from pldt_jax_datasets.lookbook.preprocessing import ImageError, load_and_preprocess

CACHE_DIR = "search_cache"


class SearchError(errors.Error):
    """A search that cannot run as asked: bad arguments, an unusable catalogue."""


class SearchModel(NamedTuple):
    """The two networks a search needs, restored once from the latest checkpoint."""

    step: int
    config: ml_collections.ConfigDict
    converter: TrainState
    domain: TrainState
    checkpoint: Path  # The folder of that checkpoint: its identity for the cache.


class Catalogue(NamedTuple):
    """Products to search, preprocessed as the dataset's, with what identifies each."""

    name: str  # 'test', or the folder.
    key: str  # 'product_id' (a split) or 'file' (a folder): what `labels` are.
    labels: list  # Per product: its id (int) or its file, relative to the folder.
    images: np.ndarray  # uint8 (P, R, R, 3).
    features: np.ndarray  # `metrics.retrieval_features` of `images`.
    skipped: list[tuple[str, str]]  # (file, reason) of each unusable catalogue file.


class Answer(NamedTuple):
    photo: np.ndarray  # uint8 (R, R, 3): the photo as the model sees it.
    product: np.ndarray  # uint8 (R, R, 3): the generated product image.
    by_distance: list[tuple[int, float]]  # (catalogue row, distance), nearest first.
    by_dd_score: list[tuple[int, float]]  # (catalogue row, DD-score), highest first.


def load_model(workdir: str | os.PathLike) -> SearchModel:
    """The converter and the domain discriminator of the latest checkpoint, on the CPU."""
    directory = Path(workdir) / "checkpoints"
    cpu = jax.devices("cpu")[0]
    step, converter, config = checkpoints.restore_network(directory, "converter", cpu)
    _, domain, _ = checkpoints.restore_network(directory, "domain", cpu)
    if config.dataset.direction != "human_to_product":
        raise SearchError("this run turns products into photos; a search needs photo to product")
    return SearchModel(int(step), config, converter, domain, directory.resolve() / str(step))


def catalogue_files(folder: Path) -> list[Path]:
    """Every non-hidden file under `folder`, sorted (subfolders too: a shop's categories)."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts)
    )


def _fingerprint(model: SearchModel, catalogue: str) -> str:
    """What the cached catalogue depends on: the checkpoint, the resolution, the dataset or
    every file of the folder (name, size, modification time)."""
    parts: dict[str, Any] = {
        "checkpoint": [str(model.checkpoint), os.stat(model.checkpoint).st_mtime_ns],
        "resolution": model.config.resolution,
    }
    if catalogue in SPLITS:
        parts["dataset"] = [model.config.dataset.source, model.config.dataset.data_dir]
    else:
        folder = Path(catalogue)
        parts["files"] = [
            [str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns]
            for p in catalogue_files(folder)
        ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _cache_path(workdir: str | os.PathLike, catalogue: str) -> Path:
    if catalogue in SPLITS:
        name = catalogue
    else:
        name = "folder-" + hashlib.sha256(str(Path(catalogue).resolve()).encode()).hexdigest()[:16]
    return Path(workdir) / CACHE_DIR / f"{name}.npz"


def _read_split(model: SearchModel, name: str) -> Catalogue:
    split = prepare.load_splits(model.config, [name])[name]
    products = split_arrays.products(split)
    labels = [int(i) for i in products.product_id]
    return Catalogue(name, "product_id", labels, products.image, np.empty(0), [])


def _read_folder(model: SearchModel, folder: Path) -> Catalogue:
    labels, pictures, skipped = [], [], []
    for path in catalogue_files(folder):
        name = str(path.relative_to(folder))
        try:
            pictures.append(load_and_preprocess(path, model.config.resolution))
        except ImageError as error:
            skipped.append((name, str(error)))
            continue
        labels.append(name)
    if not pictures:
        raise SearchError(f"no usable image in the catalogue folder {folder}")
    return Catalogue(str(folder), "file", labels, np.stack(pictures), np.empty(0), skipped)


def check_catalogue(catalogue: str) -> None:
    """Raises a SearchError unless `catalogue` names a split or an existing folder."""
    if catalogue not in SPLITS and not Path(catalogue).is_dir():
        raise SearchError(
            f"--catalogue must be one of {', '.join(SPLITS)} or a folder; got {catalogue!r}"
        )


def load_catalogue(
    workdir: str | os.PathLike, model: SearchModel, catalogue: str
) -> tuple[Catalogue, bool]:
    """(the catalogue, whether it came from the cache); `catalogue` is a split or a folder.

    A cache that cannot be written (a read-only work dir) is only a warning: the search runs.
    """
    check_catalogue(catalogue)
    fingerprint = _fingerprint(model, catalogue)
    path = _cache_path(workdir, catalogue)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as cached:
                if str(cached["fingerprint"]) == fingerprint:
                    return _from_arrays(catalogue, cached), True
        except (OSError, ValueError, KeyError) as error:
            logging.warning("Ignoring the unreadable search cache %s: %s", path, error)
    if catalogue in SPLITS:
        found = _read_split(model, catalogue)
    else:
        found = _read_folder(model, Path(catalogue))
    found = found._replace(features=metrics.retrieval_features(found.images))
    try:
        _write_cache(path, found, fingerprint)
    except OSError as error:
        logging.warning("Could not cache the catalogue in %s: %s", path, error)
    return found, False


def _write_cache(path: Path, catalogue: Catalogue, fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".tmp"), "wb") as file:
        np.savez(
            file,
            fingerprint=fingerprint,
            key=catalogue.key,
            labels=np.asarray([str(label) for label in catalogue.labels]),
            images=catalogue.images,
            features=catalogue.features,
            skipped_files=np.asarray([name for name, _ in catalogue.skipped], dtype=str),
            skipped_reasons=np.asarray([reason for _, reason in catalogue.skipped], dtype=str),
        )
    os.replace(path.with_suffix(".tmp"), path)


def _from_arrays(name: str, arrays: Any) -> Catalogue:
    key = str(arrays["key"])
    labels = [int(x) if key == "product_id" else str(x) for x in arrays["labels"]]
    files, reasons = arrays["skipped_files"].tolist(), arrays["skipped_reasons"].tolist()
    skipped = list(zip(files, reasons, strict=True))
    return Catalogue(name, key, labels, arrays["images"], arrays["features"], skipped)


def answer(model: SearchModel, catalogue: Catalogue, photo: np.ndarray, top: int) -> Answer:
    """The generated product and the `top` nearest products, both ways, of one uint8 photo
    already preprocessed (`load_and_preprocess`)."""
    product = images.to_uint8(np.asarray(inference.generate(model.converter, photo[None])))
    distances = metrics.feature_distances(metrics.retrieval_features(product), catalogue.features)
    scores = retrieval.score_matrix(model.domain, photo[None], catalogue.images)
    nearest = np.argsort(distances[0], kind="stable")[:top]
    best = np.argsort(-scores[0], kind="stable")[:top]
    return Answer(
        photo,
        product[0],
        [(int(i), float(distances[0, i])) for i in nearest],
        [(int(i), float(scores[0, i])) for i in best],
    )


def answer_file(
    model: SearchModel, catalogue: Catalogue, source: str | os.PathLike | bytes, top: int
) -> Answer:
    """`answer` for a photo file (or its bytes); raises `ImageError` for a bad one."""
    return answer(model, catalogue, load_and_preprocess(source, model.config.resolution), top)


def ranking(catalogue: Catalogue, ranked: list[tuple[int, float]], score: str) -> list[dict]:
    """A ranking as JSON-ready rows: rank, the product's id or file, its score."""
    return [
        {"rank": rank, catalogue.key: catalogue.labels[row], score: value}
        for rank, (row, value) in enumerate(ranked, start=1)
    ]


def _captioned(image: np.ndarray, caption: str, scale: int) -> np.ndarray:
    """The image enlarged `scale` times (nearest neighbour) over a line of text."""
    picture = Image.fromarray(images.enlarged(image, scale))
    tile = Image.new("RGB", (picture.width, picture.height + 14), "white")
    tile.paste(picture)
    ImageDraw.Draw(tile).text(
        (2, picture.height + 1), caption, fill="black", font=ImageFont.load_default()
    )
    return np.asarray(tile)


def contact_sheet(catalogue: Catalogue, found: Answer) -> np.ndarray:
    """One picture of an answer: photo and generated product, then the top products by
    distance (d) and by DD-score (DD), each captioned with its score."""
    scale = max(1, 128 // found.photo.shape[0])
    rows = [
        [_captioned(found.photo, "photo", scale), _captioned(found.product, "generated", scale)],
        [
            _captioned(catalogue.images[row], f"{rank}. d {value:.3f}", scale)
            for rank, (row, value) in enumerate(found.by_distance, start=1)
        ],
        [
            _captioned(catalogue.images[row], f"{rank}. DD {value:.2f}", scale)
            for rank, (row, value) in enumerate(found.by_dd_score, start=1)
        ],
    ]
    return images.image_grid(rows, pad=4)


def _unique_sheets(jobs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Photos whose names differ only by extension (a.jpg, a.png) get a sheet each."""
    stems = [sheet.name for _, sheet in jobs]
    return [
        (photo, sheet.with_name(f"{photo.name}.png") if stems.count(sheet.name) > 1 else sheet)
        for photo, sheet in jobs
    ]


def search(
    workdir: str, input_path: str, catalogue_name: str, top: int, output: str
) -> dict[str, Any]:
    """Searches the catalogue for every photo; writes the contact sheets and results.json.

    Returns what results.json holds: the rankings, the skipped catalogue files and the photos
    that could not be read (`failed`).
    """
    if top < 1:
        raise SearchError(f"--top must be at least 1, got {top}")
    output_dir = Path(output)
    if output_dir.exists() and not output_dir.is_dir():
        raise SearchError(f"--output must be a folder, and {output_dir} is a file")
    if not Path(input_path).exists():
        raise SearchError(f"no such photo or folder: {input_path}")
    check_catalogue(catalogue_name)
    model = load_model(workdir)
    catalogue, cached = load_catalogue(workdir, model, catalogue_name)
    logging.info(
        "Step %d, %d px; catalogue %s: %d products%s.",
        model.step,
        model.config.resolution,
        catalogue.name,
        len(catalogue.labels),
        " (cached)" if cached else "",
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    jobs = _unique_sheets(sample.plan(Path(input_path), output_dir))
    if not jobs:
        raise SearchError(f"no files in {input_path}")
    results: dict[str, Any] = {
        "workdir": str(workdir),
        "step": model.step,
        "resolution": model.config.resolution,
        "catalogue": catalogue.name,
        "catalogue_size": len(catalogue.labels),
        "top": top,
        "skipped_catalogue_files": [{"file": f, "reason": r} for f, r in catalogue.skipped],
        "photos": [],
        "failed": [],
    }
    for photo, sheet in jobs:
        try:
            found = answer_file(model, catalogue, photo, top)
        except ImageError as error:
            results["failed"].append({"photo": str(photo), "reason": str(error)})
            continue
        images.save_png(contact_sheet(catalogue, found), sheet)
        results["photos"].append(
            {
                "photo": str(photo),
                "sheet": str(sheet),
                "by_distance": ranking(catalogue, found.by_distance, "distance"),
                "by_dd_score": ranking(catalogue, found.by_dd_score, "dd_score"),
            }
        )
    with open(output_dir / "results.json", "w") as file:
        json.dump(results, file, indent=1)
    return results


def main(argv: Sequence[str]) -> None:
    del argv  # No positional arguments (cli.run refuses them).
    FLAGS = flags.FLAGS
    results = search(FLAGS.workdir, FLAGS.input, FLAGS.catalogue, FLAGS.top, FLAGS.output)
    print(
        f"{len(results['photos'])} photo(s) searched in {results['catalogue_size']} products "
        f"-> {Path(FLAGS.output) / 'results.json'}"
    )
    problems = [f"  photo {f['photo']}: {f['reason']}" for f in results["failed"]] + [
        f"  catalogue file {f['file']}: {f['reason']}" for f in results["skipped_catalogue_files"]
    ]
    if problems:
        cli.fail(f"{len(problems)} file(s) skipped:\n" + "\n".join(problems))


if __name__ == "__main__":
    flags.DEFINE_string("workdir", None, "Work dir of a training run.", required=True)
    flags.DEFINE_string("input", None, "A photo (jpg, png, webp, ...) or a folder.", required=True)
    flags.DEFINE_string(
        "catalogue", "test", "train, validation, test (the run's dataset) or a folder of images."
    )
    flags.DEFINE_integer("top", 5, "How many products to list per photo, each way.", lower_bound=1)
    flags.DEFINE_string("output", "search", "Folder for the contact sheets and results.json.")
    cli.run(main)
