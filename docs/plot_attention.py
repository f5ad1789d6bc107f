"""Where a trained converter's encoder attention heads look: docs/quality_attention.png.

    python docs/plot_attention.py OUT.png WORKDIR [--count 8]

One row per validation photo (of distinct products): the photo, each head's weights over
the 16x16 grid laid over it (brighter = more weight), and the converter's drawing beside
its true product. The heads (`model.encoder_attention_heads`) start uniform; what they
learnt to pick is where the garment's colours come from.
"""

import argparse
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pldt_jax import checkpoints, images, prepare  # noqa: E402


def attention(converter, photos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The converter's drawings (uint8) and its heads' weights (N, S, S, heads) on `photos`."""
    variables = {"params": converter.params, "batch_stats": converter.batch_stats}
    drawn, sown = converter.apply_fn(
        variables, images.to_float(photos), train=False, mutable=["intermediates"]
    )
    (weights,) = sown["intermediates"]["encoder"]["attention"]
    return images.to_uint8(np.asarray(drawn)), np.asarray(weights)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output")
    parser.add_argument("workdir")
    parser.add_argument("--count", type=int, default=8, help="photos, one per product")
    args = parser.parse_args(argv)
    _, converter, config = checkpoints.restore_network(Path(args.workdir) / "checkpoints")
    if not config.model.get("encoder_attention_heads", 0):
        parser.error(f"{args.workdir}'s converter has no attention heads to draw")
    split = prepare.load_splits(config, [config.dataset.eval_split])[config.dataset.eval_split]
    _, first = np.unique(split.product_id, return_index=True)
    rows = np.sort(first)[: args.count]
    photos = split.photos[rows]
    products = split.product_images[np.searchsorted(split.product_ids, split.product_id[rows])]
    drawn, weights = attention(converter, photos)
    heads = weights.shape[-1]
    figure, axes = plt.subplots(
        len(rows), heads + 3, figsize=(1.3 * (heads + 3), 1.3 * len(rows)), squeeze=False
    )
    size = photos.shape[1]
    for row, ax in enumerate(axes):
        ax[0].imshow(photos[row])
        for head in range(heads):
            ax[head + 1].imshow(photos[row], alpha=0.35)
            ax[head + 1].imshow(
                weights[row, ..., head], cmap="magma", alpha=0.75, extent=(0, size, size, 0)
            )
        ax[heads + 1].imshow(drawn[row])
        ax[heads + 2].imshow(products[row])
    titles = ["photo", *(f"head {h + 1}" for h in range(heads)), "drawn", "product"]
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(title, fontsize=8)
    for ax in axes.flat:
        ax.set_axis_off()
    figure.tight_layout()
    figure.savefig(args.output, dpi=100)


if __name__ == "__main__":
    main()
