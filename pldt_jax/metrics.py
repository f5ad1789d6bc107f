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
    """Separable Gaussian filter of (N, H, W, C) maps, 'valid' borders, per channel."""
    taps = jnp.asarray(gaussian_taps())
    channels = x.shape[-1]
    kh = jnp.tile(taps[:, None, None, None], (1, 1, 1, channels))
    kw = jnp.tile(taps[None, :, None, None], (1, 1, 1, channels))
    dims = ("NHWC", "HWIO", "NHWC")
    blur = lambda y, k: jax.lax.conv_general_dilated(  # noqa: E731
        y,
        k,
        (1, 1),
        "VALID",
        dimension_numbers=dims,
        feature_group_count=channels,
        precision=jax.lax.Precision.HIGHEST,
    )
    return blur(blur(x, kh), kw)


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
