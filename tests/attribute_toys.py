"""A trivially learnable toy set for the attribute judge, and one judge trained on it per
test session (`trained`), shared by the classifier's and the proxies' tests."""

import functools

import numpy as np

from pldt_jax import attribute_classifier, split_arrays

COLOURS_RGB = np.array([(200, 30, 30), (30, 160, 60), (40, 80, 220), (240, 200, 40)], np.uint8)


def toy_products(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Garment-like 64 px shots on white: category = shape, colour = one of four, pattern =
    solid / stripes / a central logo (a darker shade), at a random offset."""
    labels = {
        "category": rng.integers(0, 4, n),
        "color": rng.integers(0, 4, n),
        "pattern": rng.integers(0, 3, n),
    }
    images = np.full((n, 64, 64, 3), 255, np.uint8)
    yy, xx = np.mgrid[:64, :64]
    for i in range(n):
        dy, dx = rng.integers(-4, 5, 2)
        y, x = yy - 32 - dy, xx - 32 - dx
        category = labels["category"][i]
        if category == 0:  # square
            shape = (abs(y) < 18) & (abs(x) < 18)
        elif category == 1:  # wide bar
            shape = (abs(y) < 9) & (abs(x) < 26)
        elif category == 2:  # tall bar
            shape = (abs(y) < 26) & (abs(x) < 9)
        else:  # plus
            shape = ((abs(y) < 6) & (abs(x) < 24)) | ((abs(y) < 24) & (abs(x) < 6))
        images[i][shape] = COLOURS_RGB[labels["color"][i]]
        pattern = labels["pattern"][i]
        if pattern:
            mark = yy % 12 >= 6 if pattern == 1 else y**2 + x**2 < 7**2
            images[i][shape & mark] = COLOURS_RGB[labels["color"][i]] // 3
    return images, labels


def toy_split(
    images: np.ndarray, labels: dict[str, np.ndarray], target: np.ndarray | None = None
) -> split_arrays.SplitArrays:
    """One example per image; `target` (default: the images) are the true product images."""
    n = len(images)
    target = images if target is None else target
    ids = np.arange(n, dtype=np.int64)
    return split_arrays.load_split(
        split_arrays.ArraySource(
            source=images,
            target=target,
            negative=target[::-1],
            product_id=ids,
            negative_product_id=ids[::-1],
            image_id=ids,
            category=labels["category"],
            color=labels["color"],
            pattern=labels["pattern"],
            pattern_color=labels.get("pattern_color", np.full(n, -1)),
        )
    )


@functools.cache
def trained():
    """(classifier trained on 96 toy products, 64 other toy products and their labels)."""
    rng = np.random.default_rng(0)
    train_images, train_labels = toy_products(rng, 96)
    classifier = attribute_classifier.train_classifier(
        train_images,
        train_labels,
        seed=0,
        steps=400,
        batch_size=8,  # Small batches, as the judge's (`DEFAULT_BATCH_SIZE`).
        net=attribute_classifier.AttributeNet(width=8, feature_dim=32, color_width=16),
    )
    return classifier, toy_products(rng, 64)
