"""Product search on a tiny trained run: both rankings, the catalogue cache, the command line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pldt_jax import evaluate, images, inference, metrics, prepare, retrieval, search, split_arrays
from pldt_jax_datasets.lookbook.preprocessing import load_and_preprocess


@pytest.fixture(scope="module")
def model(tiny_run):
    return search.load_model(tiny_run)


@pytest.fixture(scope="module")
def test_split(model):
    return prepare.load_splits(model.config, ["test"])["test"]


def write_photos(split: split_arrays.SplitArrays, folder: Path) -> Path:
    """The split's photos as PNG files named <image id>_pid<product id>.png."""
    folder.mkdir()
    for photo, image_id, product_id in zip(
        split.source, split.image_id, split.product_id, strict=True
    ):
        images.save_png(photo, folder / f"{image_id}_pid{product_id}.png")
    return folder


def test_search_ranks_the_catalogue_both_ways(tiny_run, model, test_split, tmp_path):
    photos = write_photos(test_split, tmp_path / "photos")
    (photos / "notes.txt").write_text("not a photo")
    results = search.search(str(tiny_run), str(photos), "test", top=5, output=str(tmp_path / "out"))
    assert results == json.loads((tmp_path / "out" / "results.json").read_text())
    assert [Path(f["photo"]).name for f in results["failed"]] == ["notes.txt"]
    assert len(results["photos"]) == len(test_split)

    products = split_arrays.products(test_split)
    assert results["catalogue_size"] == len(products.product_id)
    generated = inference.generate_split(model.converter, test_split, batch_size=8)
    distances = metrics.retrieval_distances(generated, products.image)
    scores = retrieval.score_matrix(model.domain, test_split.source, products.image)
    by_id = {int(i): row for row, i in enumerate(products.product_id)}
    ids = zip(test_split.image_id, test_split.product_id, strict=True)
    names = [f"{i}_pid{p}.png" for i, p in ids]
    order = [names.index(Path(found["photo"]).name) for found in results["photos"]]
    for i, found in zip(order, results["photos"], strict=True):
        ranked = [(by_id[e["product_id"]], e["distance"]) for e in found["by_distance"]]
        assert [e["rank"] for e in found["by_distance"]] == list(range(1, len(ranked) + 1))
        np.testing.assert_allclose(
            [d for _, d in ranked], distances[i, [r for r, _ in ranked]], rtol=1e-5
        )
        assert [d for _, d in ranked] == sorted(d for _, d in ranked)
        dd = [(by_id[e["product_id"]], e["dd_score"]) for e in found["by_dd_score"]]
        np.testing.assert_allclose([s for _, s in dd], scores[i, [r for r, _ in dd]], rtol=1e-5)
        assert [s for _, s in dd] == sorted((s for _, s in dd), reverse=True)
        sheet = np.asarray(Image.open(found["sheet"]))
        assert sheet.shape[0] == 3 * (128 + 14 + 4) + 4  # Three rows of captioned 128-px tiles.

    # Its first answers are the evaluation's retrieval: the same top-1 rate.
    first = [f["by_distance"][0]["product_id"] for f in results["photos"]]
    expected = evaluate.retrieval_results(test_split, queries=generated)["retrieval_top1"]
    assert np.mean(np.asarray(first) == test_split.product_id[order]) == pytest.approx(expected)


def test_contact_sheet_shows_the_photo_the_product_and_both_rankings(tiny_run, model, test_split):
    catalogue, _ = search.load_catalogue(tiny_run, model, "test")
    found = search.answer(model, catalogue, test_split.source[0], top=2)
    sheet = search.contact_sheet(catalogue, found)
    pad, tile = 4, 128  # 64 px pictures drawn twice as large, a caption under each.
    enlarged = np.repeat(np.repeat(test_split.source[0], 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(sheet[pad : pad + tile, pad : pad + tile], enlarged)
    second_row = pad + (tile + 14 + pad)
    best = catalogue.images[found.by_distance[0][0]]
    np.testing.assert_array_equal(
        sheet[second_row : second_row + tile : 2, pad : pad + tile : 2], best
    )
    assert sheet.shape[0] == 3 * (tile + 14 + pad) + pad


def shop_folder(folder: Path) -> Path:
    """Shop images of several sizes and formats, one in a subfolder, a hidden file, a bad one."""
    (folder / "tops").mkdir(parents=True)
    Image.new("RGB", (300, 400), (200, 30, 30)).save(folder / "red.jpg")
    Image.new("RGBA", (120, 90), (0, 0, 255, 255)).save(folder / "tops" / "blue.png")
    Image.new("RGB", (50, 50), (0, 200, 0)).save(folder / "green.webp")
    (folder / "readme.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    return folder


def test_folder_catalogue_is_preprocessed_cached_and_rebuilt(model, tmp_path):
    workdir, folder = tmp_path / "workdir", shop_folder(tmp_path / "shop")
    catalogue, cached = search.load_catalogue(workdir, model, str(folder))
    assert not cached and catalogue.key == "file"
    assert catalogue.labels == ["green.webp", "red.jpg", "tops/blue.png"]
    assert [name for name, _ in catalogue.skipped] == ["readme.txt"]
    for label, image in zip(catalogue.labels, catalogue.images, strict=True):
        np.testing.assert_array_equal(image, load_and_preprocess(folder / label, 64))
    np.testing.assert_array_equal(catalogue.features, metrics.retrieval_features(catalogue.images))

    again, cached = search.load_catalogue(workdir, model, str(folder))
    assert cached and again.labels == catalogue.labels and again.skipped == catalogue.skipped
    np.testing.assert_array_equal(again.images, catalogue.images)
    np.testing.assert_array_equal(again.features, catalogue.features)

    Image.new("RGB", (60, 80), (250, 250, 0)).save(folder / "yellow.png")  # New stock.
    grown, cached = search.load_catalogue(workdir, model, str(folder))
    assert not cached and "yellow.png" in grown.labels
    other = model._replace(checkpoint=tmp_path)  # Another checkpoint: another converter.
    assert not search.load_catalogue(workdir, other, str(folder))[1]


def test_split_catalogue_is_the_split_s_products(model, test_split, tmp_path):
    catalogue, cached = search.load_catalogue(tmp_path, model, "test")
    products = split_arrays.products(test_split)
    assert not cached and catalogue.key == "product_id"
    assert catalogue.labels == products.product_id.tolist()
    np.testing.assert_array_equal(catalogue.images, products.image)
    assert search.load_catalogue(tmp_path, model, "test")[1]


def run_search(*arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pldt_jax.search", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_command_line_lists_bad_photos_and_catalogue_files(tiny_run, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    images.save_png(np.full((70, 50, 3), 128, np.uint8), photos / "ok.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out"
    result = run_search(
        f"--workdir={tiny_run}",
        f"--input={photos}",
        f"--catalogue={shop_folder(tmp_path / 'shop')}",
        "--top=2",
        f"--output={out}",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "2 file(s) skipped" in result.stderr
    assert "broken.jpg" in result.stderr and "readme.txt" in result.stderr
    results = json.loads((out / "results.json").read_text())
    assert [len(f["by_distance"]) for f in results["photos"]] == [2]
    shop = {"green.webp", "red.jpg", "tops/blue.png"}
    assert {e["file"] for e in results["photos"][0]["by_distance"]} <= shop
    assert (out / "ok.png").exists()


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("--top=0", "--top=0"),
        ("--catalogue=shop_that_is_not_there", "--catalogue must be one of"),
        ("--input=no_such_photo.jpg", "no such photo or folder"),
        ("--output=FILE", "--output must be a folder"),
        ("--workdir=EMPTY", "no checkpoint"),
        ("--colour=red", "Unknown command line flag 'colour'"),
    ],
)
def test_command_line_bad_arguments_are_one_line(tiny_run, tmp_path, argument, message):
    (tmp_path / "a_file").write_text("")
    (tmp_path / "empty").mkdir()
    photo = tmp_path / "photo.png"
    images.save_png(np.full((64, 64, 3), 200, np.uint8), photo)
    arguments = {
        "--workdir": str(tiny_run),
        "--input": str(photo),
        "--output": str(tmp_path / "out"),
    }
    name, value = argument.split("=")
    arguments[name] = {"FILE": str(tmp_path / "a_file"), "EMPTY": str(tmp_path / "empty")}.get(
        value, value
    )
    result = run_search(*(f"{k}={v}" for k, v in arguments.items()))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr
    assert "Traceback" not in result.stderr
