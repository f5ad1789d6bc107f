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


def distinct_images(num, size=64, seed=0):
    """Random images, smooth enough that their 16 x 16 versions still differ widely."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (num, 8, 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(coarse, size // 8, axis=1), size // 8, axis=2)


def constant_images(values, size=64):
    return np.broadcast_to(
        np.asarray(values, np.uint8)[:, None, None, None], (len(values), size, size, 3)
    ).copy()


def test_area_downscaling_is_the_block_mean_and_keeps_any_size_exact():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    features = metrics.retrieval_features(images)
    block_mean = images.reshape(3, 16, 4, 16, 4, 3).mean(axis=(2, 4)) / 255.0
    np.testing.assert_allclose(features, block_mean.reshape(3, -1), atol=1e-6)
    # A size 16 does not divide (and a smaller one) averages by area: a flat image stays flat,
    # and the mean over the image is kept.
    for size in (20, 8):
        odd = constant_images([51], size)
        np.testing.assert_allclose(metrics.retrieval_features(odd), 0.2, atol=1e-6)
        noise = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)
        np.testing.assert_allclose(
            metrics.retrieval_features(noise).mean(), noise.mean() / 255.0, rtol=1e-5
        )


def test_retrieval_distances_in_blocks_match_the_direct_formula():
    queries, gallery = distinct_images(5, seed=1), distinct_images(7, seed=2)
    got = metrics.retrieval_distances(queries, gallery, query_block=2, gallery_block=3)
    q, g = metrics.retrieval_features(queries), metrics.retrieval_features(gallery)
    expected = ((q[:, None].astype(np.float64) - g[None]) ** 2).sum(-1)
    assert got.shape == (5, 7)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Float pixels in [0, 255] (the mean-product baseline) are scored like uint8 ones.
    as_float = metrics.retrieval_distances(queries.astype(np.float32), gallery)
    np.testing.assert_allclose(as_float, got, rtol=1e-6)


@pytest.mark.parametrize("noise", [0, 12])
def test_copies_of_gallery_items_are_found_first(noise):
    gallery = distinct_images(20)
    rng = np.random.default_rng(3)
    truth = rng.permutation(20)[:13]
    jitter = rng.integers(-noise, noise + 1, (13, 64, 64, 3))
    queries = np.clip(gallery[truth].astype(int) + jitter, 0, 255).astype(np.uint8)
    ranks = metrics.retrieval_ranks(
        metrics.retrieval_distances(queries, gallery, query_block=4, gallery_block=6), truth
    )
    np.testing.assert_array_equal(ranks, 1)
    accuracy = metrics.retrieval_accuracy(ranks, len(gallery))
    assert accuracy["retrieval_top1"] == accuracy["retrieval_top5"] == 1.0


def test_a_true_item_in_third_place_counts_for_top5_only():
    # Flat grey images: the query 100 is 5, 10, 30, 90, 100, 150 grey levels from the gallery's
    # 105, 90, 130, 10, 200, 250; its true product (130) is the third closest.
    gallery = constant_images([10, 90, 105, 130, 200, 250])
    queries = constant_images([100, 100])
    ranks = metrics.retrieval_ranks(metrics.retrieval_distances(queries, gallery), [3, 2])
    np.testing.assert_array_equal(ranks, [3, 1])
    assert metrics.top_k_accuracy(ranks[:1], 1) == 0.0
    assert metrics.top_k_accuracy(ranks[:1], 5) == 1.0
    assert metrics.retrieval_accuracy(ranks, 6) == {
        "retrieval_top1": 0.5,
        "retrieval_top5": 1.0,
        "retrieval_chance_top1": 1 / 6,
        "retrieval_chance_top5": 5 / 6,
        "retrieval_gallery_size": 6,
    }


def test_ties_count_against_the_query():
    # Two identical gallery images: a query equal to both ranks 2nd whichever is its product.
    gallery = distinct_images(6)
    gallery[4] = gallery[1]
    distances = metrics.retrieval_distances(gallery[[1, 1, 0]], gallery)
    np.testing.assert_array_equal(metrics.retrieval_ranks(distances, [1, 4, 0]), [2, 2, 1])
    # Equally close to everything (e.g. a constant score): last, not first.
    np.testing.assert_array_equal(metrics.retrieval_ranks(np.zeros((3, 5)), [0, 2, 4]), 5)
    # A NaN elsewhere counts as closer; a NaN true score is last.
    scores = np.array([[0.0, np.nan, 2.0], [np.nan, 1.0, 2.0]])
    np.testing.assert_array_equal(metrics.retrieval_ranks(scores, [0, 0]), [2, 3])


def test_scores_rank_higher_as_closer():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]])
    np.testing.assert_array_equal(
        metrics.retrieval_ranks(scores, [2, 1], higher_is_closer=True), [2, 1]
    )
    np.testing.assert_array_equal(metrics.retrieval_ranks(scores, [2, 1]), [2, 3])


def test_chance_level_is_k_over_the_gallery_size():
    accuracy = metrics.retrieval_accuracy(np.array([1, 2, 3]), 3)
    assert accuracy["retrieval_chance_top1"] == pytest.approx(1 / 3)
    assert accuracy["retrieval_chance_top5"] == 1.0  # Fewer than 5 products: any ranking.
    assert accuracy["retrieval_top1"] == pytest.approx(1 / 3)
    assert accuracy["retrieval_top5"] == 1.0
    with pytest.raises(ValueError, match="true_index"):
        metrics.retrieval_ranks(np.zeros((2, 3)), [0, 3])


def test_spread_ratio_tells_a_constant_answer_from_faithful_ones():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (6, 8, 8, 3)).astype(np.uint8)
    assert metrics.spread_ratio(truth, truth) == pytest.approx(1.0)
    constant = np.broadcast_to(truth.mean(axis=0), truth.shape)
    assert metrics.spread_ratio(constant, truth) == pytest.approx(0.0, abs=1e-6)
    halfway = (truth.astype(np.float32) + constant) / 2
    assert metrics.spread_ratio(halfway, truth) == pytest.approx(0.5, rel=1e-4)
