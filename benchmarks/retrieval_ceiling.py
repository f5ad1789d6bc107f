"""How far a perfect drawing gets on retrieval and C-SSIM when it cannot know the product
shot's framing or the pattern's phase.

Why: retrieval ranks a split's product shots by their 16x16 distance to the converter's
drawing, and C-SSIM compares pixels, but every synthetic product shot has its own framing
(canvas, fill, sleeve tilt, rotation: `synthetic.shot_framing`) and every pattern its own
phase, and no person photo of the product shows either. This re-renders the split's
products with their labels, colours and cut but another framing or phase, and scores those
drawings as the evaluation scores a converter's (one drawing per product, counted once per
photo of it): the ceiling under the embedded default's targets (docs/quality.md).

    python benchmarks/retrieval_ceiling.py                    # configs/synthetic.py, test split
    python benchmarks/retrieval_ceiling.py --draws 5 --output ceiling.json
"""

import argparse
import json
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageFilter
from step_benchmark import load_config
from tables import format_table

from pldt_jax import evaluate, metrics, prepare, split_arrays
from pldt_jax_datasets.lookbook import synthetic
from pldt_jax_datasets.lookbook.preprocessing import load_and_preprocess

SEED = 0  # of every synthetic archive the builder writes
BLUR_SIGMA = 1.5  # px at 64 px: about the blur that scores best in docs/quality.md
FramingOf = Callable[[synthetic.Product, int], synthetic.ShotFraming | None]
PhaseOf = Callable[[synthetic.Product, int], tuple[float, float] | None]


def render(
    products: Sequence[synthetic.Product],
    resolution: int,
    framing_of: FramingOf,
    phase_of: PhaseOf,
    draw: int = 0,
    blur: float = 0.0,
) -> np.ndarray:
    """uint8 (N, R, R, 3): each product's shot with the framing and phase given for `draw`
    (None: the archive's), preprocessed as the dataset's product images are."""
    images = []
    for product in products:
        shot = synthetic.product_shot(
            SEED, product, framing_of(product, draw), phase_of(product, draw)
        )
        image = load_and_preprocess(shot, resolution)
        if blur:
            image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(blur)))
        images.append(image)
    return np.stack(images)


def score(drawings: np.ndarray, gallery: np.ndarray, photos: np.ndarray) -> dict[str, float]:
    """Top-1, top-5 and C-SSIM of one drawing per gallery product, each counted `photos` times."""
    distances = np.asarray(metrics.retrieval_distances(drawings, gallery))
    ranks = np.repeat(metrics.retrieval_ranks(distances, np.arange(len(gallery))), photos)
    cssim = np.repeat(np.asarray(metrics.cssim(drawings / 255.0, gallery / 255.0)), photos)
    return {
        "top1": metrics.top_k_accuracy(ranks, 1),
        "top5": metrics.top_k_accuracy(ranks, 5),
        "cssim": float(cssim.mean()),
    }


def _as_archived(product: synthetic.Product, draw: int) -> None:
    """The archive's own framing or phase (`synthetic.product_shot` takes None for it)."""
    return None


def _other_framing(product: synthetic.Product, draw: int) -> synthetic.ShotFraming:
    # The framing the product would have in an archive of another seed.
    return synthetic.shot_framing(SEED + 1 + draw, product)


def _middle_framing(product: synthetic.Product, draw: int) -> synthetic.ShotFraming:
    return synthetic.MIDDLE_SHOT_FRAMING


def _other_phase(product: synthetic.Product, draw: int) -> tuple[float, float]:
    rng = np.random.default_rng((SEED + 1 + draw, product.product_id))
    return float(rng.uniform()), float(rng.uniform())


# (name, framing, phase, blur, varies with the draw)
CASES: tuple[tuple[str, FramingOf, PhaseOf, float, bool], ...] = (
    ("the true shot", _as_archived, _as_archived, 0.0, False),
    ("another framing", _other_framing, _as_archived, 0.0, True),
    ("another phase", _as_archived, _other_phase, 0.0, True),
    ("another framing and phase", _other_framing, _other_phase, 0.0, True),
    ("the middle framing", _middle_framing, _as_archived, 0.0, False),
    ("the middle framing, another phase", _middle_framing, _other_phase, 0.0, True),
    (
        f"the middle framing, another phase, blurred {BLUR_SIGMA} px",
        _middle_framing,
        _other_phase,
        BLUR_SIGMA,
        True,
    ),
)


def measure(
    products: Sequence[synthetic.Product],
    gallery: np.ndarray,
    photos: np.ndarray,
    draws: int,
    progress: Callable[[str], None] = lambda _: None,
) -> list[dict[str, float | str]]:
    """A row per case: the mean, lowest and highest top-1, top-5 and C-SSIM over `draws`."""
    rows = []
    resolution = gallery.shape[1]
    for name, framing_of, phase_of, blur, varies in CASES:
        scores = [
            score(render(products, resolution, framing_of, phase_of, draw, blur), gallery, photos)
            for draw in range(draws if varies else 1)
        ]
        row: dict[str, float | str] = {"drawing": name, "draws": len(scores)}
        for key in scores[0]:
            values = [s[key] for s in scores]
            row |= {key: float(np.mean(values)), f"{key}_low": min(values)}
            row[f"{key}_high"] = max(values)
        progress(f"{name}: top-5 {row['top5']:.3f}, C-SSIM {row['cssim']:.3f}")
        rows.append(row)
    return rows


def split_products(
    split: split_arrays.SplitArrays, size: str
) -> tuple[list[synthetic.Product], np.ndarray, np.ndarray]:
    """The split's products as the generator planned them, their images and photo counts.

    Refuses a split whose product images the generator does not draw again to the byte:
    the ceiling would then be of other shots than the ones retrieval searches.
    """
    gallery, truth = evaluate.product_gallery(split)
    ids = split_arrays.products(split).product_id
    plan = {product.product_id: product for product in synthetic.plan(size, SEED)}
    products = [plan[int(i)] for i in ids]
    again = render(products, gallery.shape[1], _as_archived, _as_archived)
    if not np.array_equal(again, gallery):
        raise ValueError(
            "the split's product images are not the generator's shots drawn again; "
            "rebuild the synthetic data with this version of the generator"
        )
    return products, gallery, np.bincount(truth, minlength=len(gallery))


def main(argv: Sequence[str] | None = None) -> list[dict[str, float | str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/synthetic.py")
    parser.add_argument("--split", default=None, help="default: the config's evaluation split")
    parser.add_argument("--draws", type=int, default=3, help="framings and phases per case")
    parser.add_argument("--output", help="JSON file for the rows")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    source = config.dataset.source
    if not source.startswith("synthetic_"):
        parser.error(f"only the synthetic LookBook's shots can be drawn again, not {source!r}")
    split_name = args.split or config.dataset.eval_split
    split = prepare.load_splits(config, [split_name])[split_name]
    products, gallery, photos = split_products(split, source.removeprefix("synthetic_"))
    print(f"{split_name} split of {source}: {len(products)} products, {photos.sum()} photos")
    rows = measure(products, gallery, photos, args.draws, print)
    columns = [("drawing", "drawing"), ("draws", "draws")]
    for key, heading in (("top1", "top-1"), ("top5", "top-5"), ("cssim", "C-SSIM")):
        columns += [(key, heading), (f"{key}_low", f"{heading} low"), (f"{key}_high", "high")]
    print(format_table(rows, columns))
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"config": args.config, "split": split_name, "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
