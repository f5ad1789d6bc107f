import numpy as np
import pytest
from skimage.metrics import structural_similarity

from pldt_jax import metrics


def skimage_cssim(a, b):
    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=-1,
    )


@pytest.mark.parametrize("noise", [0.02, 0.3])
def test_cssim_agrees_with_scikit_image(noise):
    rng = np.random.default_rng(0)
    a = rng.random((4, 64, 64, 3)).astype(np.float32)
    # Smooth structure too, not only noise: shifted gradients with blobs.
    yy, xx = np.mgrid[:64, :64] / 64.0
    a[:2] = np.stack([xx, yy, xx * yy], -1) * 0.8 + 0.1 * a[:2]
    b = np.clip(a + noise * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    ours = np.asarray(metrics.cssim(a, b))
    reference = np.array([skimage_cssim(a[i], b[i]) for i in range(len(a))])
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_cssim_of_identical_images_is_one_and_of_unrelated_is_low():
    rng = np.random.default_rng(1)
    a = rng.random((2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(metrics.cssim(a, a)), 1.0, atol=1e-5)
    assert float(np.asarray(metrics.cssim(a, a[::-1, ::-1])).max()) < 0.2


def test_rmse_per_image():
    a = np.zeros((2, 4, 4, 3), np.float32)
    b = np.stack([np.full((4, 4, 3), 0.5), np.zeros((4, 4, 3))]).astype(np.float32)
    b[1, 0, 0, 0] = 1.0  # One pixel of 48 off by 1.
    np.testing.assert_allclose(np.asarray(metrics.rmse(a, b)), [0.5, np.sqrt(1 / 48)], rtol=1e-6)


def test_to_unit():
    np.testing.assert_allclose(np.asarray(metrics.to_unit(np.array([-1.0, 0.0, 1.0]))), [0, 0.5, 1])
