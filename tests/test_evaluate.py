"""The trivial baseline of `evaluate` in both directions, on the input pipeline's fake split."""

import numpy as np
import pytest
from test_split_arrays import FakeSource, make_examples

from pldt_jax import evaluate, metrics
from pldt_jax import split_arrays as sa


@pytest.mark.parametrize(
    ("direction", "name"),
    [("human_to_product", "mean_product"), ("product_to_human", "mean_photo")],
)
def test_mean_target_baseline_answers_the_mean_training_target(direction, name):
    train = sa.orient(sa.load_split(FakeSource(make_examples(23, seed=0))), direction)
    test = sa.orient(sa.load_split(FakeSource(make_examples(7, seed=1))), direction)
    catalogue = sa.products(train)
    got_name, scores = evaluate.mean_target_baseline(train, catalogue, test, batch_size=4)
    assert got_name == name
    # Products count once each, not once per photo of them; photos once each.
    targets = catalogue.image if direction == "human_to_product" else train.target
    assert len(targets) == (5 if direction == "human_to_product" else 23)
    mean = targets.astype(np.float64).mean(axis=0) / 255.0
    per_image = np.sqrt(((mean - test.target / 255.0) ** 2).mean(axis=(1, 2, 3)))
    assert scores["num_images"] == 7
    np.testing.assert_allclose(scores["rmse"], per_image.mean(), rtol=1e-5)


def test_mean_product_baseline_retrieves_with_one_query_for_every_photo():
    train = sa.load_split(FakeSource(make_examples(23, seed=0)))
    test = sa.load_split(FakeSource(make_examples(7, seed=1)))
    _, scores = evaluate.mean_target_baseline(train, sa.products(train), test, batch_size=4)
    gallery, truth = evaluate.product_gallery(test)
    mean = sa.products(train).image.mean(axis=0)
    order = np.argsort(metrics.retrieval_distances(mean[None], gallery)[0])
    rank = np.argsort(order)[truth] + 1  # Each photo's product's place in the one ranking.
    assert scores["retrieval_top1"] == pytest.approx(np.mean(rank <= 1))
    assert scores["retrieval_top5"] == pytest.approx(np.mean(rank <= 5))
    reverse = sa.orient(test, "product_to_human")
    _, scores = evaluate.mean_target_baseline(
        sa.orient(train, "product_to_human"), sa.products(train), reverse, batch_size=4
    )
    assert not any(key.startswith("retrieval") for key in scores)  # Targets are photos.


def test_answering_the_true_products_retrieves_every_one_first():
    test = sa.load_split(FakeSource(make_examples(11, seed=2)))
    gallery, truth = evaluate.product_gallery(test)
    np.testing.assert_array_equal(gallery[truth], test.target)
    results = evaluate.score_answers(test.target, test, batch_size=4)
    assert results["rmse"] == 0 and results["retrieval_top1"] == 1.0
    assert results["retrieval_gallery_size"] == 5
    assert results["retrieval_chance_top1"] == pytest.approx(1 / 5)
    assert results["retrieval_chance_top5"] == 1.0
    # With scores given (the DD-score), they rank instead: the true product scored lowest.
    scores = np.ones((len(test), 5))
    scores[np.arange(len(test)), truth] = 0.0
    ranked = evaluate.score_answers(test.target, test, 4, retrieval_scores=scores)
    assert ranked["retrieval_top1"] == 0.0  # Last of 5, so still in the top 5.
    assert ranked["retrieval_top5"] == 1.0
