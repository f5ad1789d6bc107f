"""How fast product search and the demo answer on this machine, and whether search ranks as the
evaluation does.

python benchmarks/search_benchmark.py --workdir=DIR [--photos 200] [--scratch DIR]

On a trained work dir (it clears DIR/search_cache: work on a copy of a run you share):
- the catalogue's first load and its cached one, for the test and train splits and for a folder
  of the test products as 256 x 256 JPEG shop shots;
- per photo, the demo's answer (`demo.respond`: read and preprocess the file, convert, rank the
  catalogue both ways, the page's pictures) against the test and the train catalogue;
- `search.search` over every test photo, written as PNG files named for their product, against
  the test catalogue: the shares whose product comes first and among the first 5, both ways,
  beside the evaluation's `retrieval_top1` / `retrieval_top5` in DIR/eval/metrics.json.
Prints one JSON object.
"""

import argparse
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pldt_jax import demo, images, prepare, search, split_arrays


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def write_photos(split: split_arrays.SplitArrays, folder: Path) -> list[Path]:
    """The split's photos, lossless, as <image id>_pid<product id>.png."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for photo, image_id, product_id in zip(
        split.source, split.image_id, split.product_id, strict=True
    ):
        paths.append(folder / f"{image_id:06d}_pid{product_id}.png")
        images.save_png(photo, paths[-1])
    return paths


def write_shop(products: split_arrays.Products, folder: Path) -> None:
    """The products as larger JPEGs, as a shop's catalogue folder would hold them."""
    folder.mkdir(parents=True, exist_ok=True)
    for product_id, image in zip(products.product_id, products.image, strict=True):
        picture = Image.fromarray(image).resize((256, 256), Image.Resampling.BICUBIC)
        picture.save(folder / f"{product_id}.jpg", quality=90)


def latency_ms(model, catalogue, paths: list[Path]) -> dict[str, float]:
    """Median and 90th percentile of `demo.respond` per photo, after one to compile."""
    demo.respond(model, catalogue, 5, paths[0])
    times = []
    for path in paths:
        start = time.perf_counter()
        status = demo.respond(model, catalogue, 5, path)[0]
        times.append((time.perf_counter() - start) * 1e3)
        assert status.startswith("Answered"), status
    return {"median": float(np.median(times)), "p90": float(np.percentile(times, 90))}


def hit_rates(results: dict) -> dict[str, float]:
    """Shares of photos whose product (named in the file) ranks first / among the first 5,
    by distance and by DD-score."""
    rates = {}
    for ranking in ("by_distance", "by_dd_score"):
        ranks = []
        for found in results["photos"]:
            product_id = int(re.search(r"_pid(\d+)\.png$", found["photo"]).group(1))
            ids = [e["product_id"] for e in found[ranking]]
            ranks.append(ids.index(product_id) + 1 if product_id in ids else len(ids) + 1)
        for k in (1, 5):
            rates[f"{ranking}_top{k}"] = float(np.mean(np.asarray(ranks) <= k))
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--photos", type=int, default=200, help="photos timed per catalogue")
    parser.add_argument("--scratch", default="/tmp/search_benchmark")
    args = parser.parse_args(argv)
    workdir, scratch = Path(args.workdir), Path(args.scratch)
    shutil.rmtree(workdir / search.CACHE_DIR, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)

    model, seconds = timed(search.load_model, workdir)
    report: dict = {"step": model.step, "resolution": model.config.resolution}
    report["load_model_s"] = seconds
    split = prepare.load_splits(model.config, ["test"])["test"]
    paths = write_photos(split, scratch / "photos")
    write_shop(split_arrays.products(split), scratch / "shop")

    catalogues = {}
    for name in ("test", "train", str(scratch / "shop")):
        (catalogue, cached), first = timed(search.load_catalogue, workdir, model, name)
        (_, cached_again), again = timed(search.load_catalogue, workdir, model, name)
        assert not cached and cached_again
        key = "folder" if name not in search.SPLITS else name
        catalogues[key] = catalogue
        report[f"catalogue_{key}"] = {
            "products": len(catalogue.labels),
            "first_load_s": first,
            "cached_load_s": again,
        }
    for key in ("test", "train"):
        report[f"demo_answer_ms_{key}"] = latency_ms(model, catalogues[key], paths[: args.photos])

    results, seconds = timed(
        search.search, str(workdir), str(scratch / "photos"), "test", 5, str(scratch / "out")
    )
    evaluation = json.loads((workdir / "eval" / "metrics.json").read_text())
    report["search_all_test_photos"] = {
        "photos": len(results["photos"]),
        "seconds": seconds,
        **hit_rates(results),
        "evaluation_retrieval_top1": evaluation.get("retrieval_top1"),
        "evaluation_retrieval_top5": evaluation.get("retrieval_top5"),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
