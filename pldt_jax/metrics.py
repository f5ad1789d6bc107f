"""Pixel-level (dis)similarity of PLDT section 5.5, per image, on pixels in [0, 1].

C-SSIM is SSIM per colour channel averaged over channels, with the usual
Gaussian window (sigma 1.5, 11 taps), K1 = 0.01, K2 = 0.03 and data range 1:
the same numbers as `skimage.metrics.structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1)`.
Like scikit-image, the SSIM map is averaged only where the window fits inside
the image, so the borders need no padding.
"""

import jax
import jax.numpy as jnp
import numpy as np

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # scikit-image's truncate=3.5 at sigma 1.5 -> 11 taps.
SSIM_K1, SSIM_K2 = 0.01, 0.03


def gaussian_taps(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def gaussian_blur_valid(x: jax.Array) -> jax.Array:
    """Separable Gaussian filter of (N, H, W, C) maps, 'valid' borders, per channel.

    Weighted sums of shifted slices, first down then across: XLA's CPU runs them several
    times as fast as the same filter as a depthwise convolution, and every validation during
    training blurs five maps of each image (docs/quality.md has the timings).
    """
    taps = [float(t) for t in gaussian_taps()]
    height, width = x.shape[1] - len(taps) + 1, x.shape[2] - len(taps) + 1
    x = sum(t * x[:, i : i + height] for i, t in enumerate(taps))
    return sum(t * x[:, :, i : i + width] for i, t in enumerate(taps))


@jax.jit
def cssim(a: jax.Array, b: jax.Array) -> jax.Array:
    """Per-image colour SSIM of (N, H, W, C) images in [0, 1]."""
    a, b = a.astype(jnp.float32), b.astype(jnp.float32)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mu_a, mu_b = gaussian_blur_valid(a), gaussian_blur_valid(b)
    var_a = gaussian_blur_valid(a * a) - mu_a**2
    var_b = gaussian_blur_valid(b * b) - mu_b**2
    cov = gaussian_blur_valid(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return ssim_map.mean(axis=(1, 2, 3))


@jax.jit
def rmse(a: jax.Array, b: jax.Array) -> jax.Array:
    """Per-image root-mean-square error over all pixels and channels."""
    diff = a.astype(jnp.float32) - b.astype(jnp.float32)
    return jnp.sqrt(jnp.mean(diff * diff, axis=(1, 2, 3)))


def to_unit(images: jax.Array) -> jax.Array:
    """[-1, 1] -> [0, 1], the range the paper's metrics are computed in."""
    return (images.astype(jnp.float32) + 1.0) / 2.0


# Product retrieval: how far the converter's answer is from the right product among a
# gallery of product images. One distance for every use (evaluation, the periodic
# validation, product search), defined here once.
RETRIEVAL_SIZE = 16  # Both images are compared at 16 x 16.
RETRIEVAL_TOP_K = (1, 5)


def _area_weights(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) weights of area resampling along one axis; each row sums to 1.

    Output pixel i covers the input interval [i, i + 1) * size_in / size_out and averages the
    input pixels by their overlap with it: a plain block mean when size_out divides size_in
    (64 -> 16), an exact area average otherwise.
    """
    edges = np.arange(size_out + 1) * (size_in / size_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    pixels = np.arange(size_in)[None, :]
    overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def retrieval_features(images: np.ndarray, size: int = RETRIEVAL_SIZE) -> np.ndarray:
    """(N, H, W, C) images with pixels in [0, 255] (uint8 or float) -> float32 (N, size*size*C).

    The area-downscaled image in [0, 1], flattened: what `retrieval_distances` compares.
    """
    rows, cols = _area_weights(images.shape[1], size), _area_weights(images.shape[2], size)
    features = np.empty((len(images), size * size * images.shape[3]), np.float32)
    for start in range(0, len(images), 1024):  # A float copy of 1,024 images at a time.
        block = np.asarray(images[start : start + 1024], np.float32) / 255.0
        small = np.einsum("ih,nhwc,jw->nijc", rows, block, cols, optimize=True)
        features[start : start + 1024] = small.reshape(len(block), -1)
    return features


@jax.jit
def _squared_distances(queries: jax.Array, gallery: jax.Array) -> jax.Array:
    # The difference itself, not |q|^2 + |g|^2 - 2 q.g: identical images are at exactly 0
    # and equal images at exactly equal distances, so ties are real ties.
    return jnp.sum(jnp.square(queries[:, None, :] - gallery[None, :, :]), axis=-1)


def retrieval_distances(
    queries_uint8: np.ndarray,
    gallery_uint8: np.ndarray,
    query_block: int = 128,
    gallery_block: int = 128,
) -> np.ndarray:
    """Squared Euclidean distances (Q, G) between queries and gallery images, float32.

    Both are area-downscaled to 16 x 16 with pixels in [0, 1] first (`retrieval_features`):
    a converter's output is blurrier than a product photo and may sit a pixel or two off,
    which would dominate a full-resolution distance, while the colour, the pattern's coarse
    layout and the garment's shape, what tells products apart, survive at 16 x 16. Pixels
    may be uint8 or float in [0, 255] (the mean-product baseline). Computed in blocks of
    query_block x gallery_block pairs so memory stays bounded for a big catalogue.
    """
    return feature_distances(
        retrieval_features(queries_uint8),
        retrieval_features(gallery_uint8),
        query_block,
        gallery_block,
    )


def feature_distances(
    queries: np.ndarray, gallery: np.ndarray, query_block: int = 128, gallery_block: int = 128
) -> np.ndarray:
    """`retrieval_distances` from `retrieval_features` computed beforehand, so that a search
    over a big catalogue downscales the catalogue once, not once per query."""
    out = np.empty((len(queries), len(gallery)), np.float32)
    for q in range(0, len(queries), query_block):
        for g in range(0, len(gallery), gallery_block):
            out[q : q + query_block, g : g + gallery_block] = np.asarray(
                _squared_distances(queries[q : q + query_block], gallery[g : g + gallery_block])
            )
    return out


def retrieval_ranks(
    scores: np.ndarray, true_index: np.ndarray, higher_is_closer: bool = False
) -> np.ndarray:
    """The 1-based rank of each query's true gallery item: int64 (Q,).

    `scores` (Q, G) are distances (lower = closer) or, with `higher_is_closer`, similarity
    scores such as the domain discriminator's. Ties count against the query: the rank is
    the number of gallery items at least as close as the true one (itself included), so a
    query equally close to every item ranks last, never first. A non-finite (NaN) score is
    treated as closest of all for another item and as farthest for the true item.
    """
    scores = np.asarray(scores, np.float64)
    true_index = np.asarray(true_index, np.int64)
    if scores.ndim != 2 or true_index.shape != (scores.shape[0],):
        raise ValueError(
            f"scores must be (Q, G) and true_index (Q,), got {scores.shape} and {true_index.shape}"
        )
    if len(true_index) and (true_index.min() < 0 or true_index.max() >= scores.shape[1]):
        raise ValueError(f"true_index must be in [0, {scores.shape[1]}).")
    closeness = scores if higher_is_closer else -scores
    true_is_nan = np.isnan(closeness[np.arange(len(true_index)), true_index])
    closeness = np.where(np.isnan(closeness), np.inf, closeness)
    true = closeness[np.arange(len(true_index)), true_index]
    ranks = (closeness >= true[:, None]).sum(axis=1)
    return np.where(true_is_nan, scores.shape[1], ranks).astype(np.int64)


def top_k_accuracy(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose true item is among the k closest."""
    return float(np.mean(np.asarray(ranks) <= k))


def retrieval_accuracy(
    ranks: np.ndarray, gallery_size: int, top_k: tuple[int, ...] = RETRIEVAL_TOP_K
) -> dict[str, float]:
    """`retrieval_top<k>` for each k, the chance level `retrieval_chance_top<k>` (k / G: a
    random ranking) and `retrieval_gallery_size`."""
    results: dict[str, float] = {}
    for k in top_k:
        results[f"retrieval_top{k}"] = top_k_accuracy(ranks, k)
    for k in top_k:
        results[f"retrieval_chance_top{k}"] = min(k, gallery_size) / gallery_size
    results["retrieval_gallery_size"] = int(gallery_size)
    return results


def spread_ratio(answers: np.ndarray, truth: np.ndarray) -> float:
    """How much the answers vary over the photos, against how much their true products do.

    The per-pixel standard deviation across images, averaged over pixels, of the answers
    divided by that of the true products: about 1 when the outputs differ from photo to
    photo as their products do, near 0 when a converter answers (nearly) the same image
    whatever the photo, as adversarial converters that stopped depending on it do.
    """
    spread = lambda x: float(np.asarray(x, np.float32).std(axis=0).mean())  # noqa: E731
    return spread(answers) / max(spread(truth), 1e-12)
