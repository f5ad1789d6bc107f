"""The trivial baseline of `evaluate` in both directions, on the input pipeline's fake split."""

import numpy as np
import pytest
from test_input_pipeline import FakeSource, make_examples

from pldt_jax import evaluate
from pldt_jax import input_pipeline as ip


@pytest.mark.parametrize(
    ("direction", "name"),
    [("human_to_product", "mean_product"), ("product_to_human", "mean_photo")],
)
def test_mean_target_baseline_answers_the_mean_training_target(direction, name):
    train = ip.orient(ip.load_split(FakeSource(make_examples(23, seed=0))), direction)
    test = ip.orient(ip.load_split(FakeSource(make_examples(7, seed=1))), direction)
    catalogue = ip.products(train)
    got_name, scores = evaluate.mean_target_baseline(train, catalogue, test, batch_size=4)
    assert got_name == name
    # Products count once each, not once per photo of them; photos once each.
    targets = catalogue.image if direction == "human_to_product" else train.target
    assert len(targets) == (5 if direction == "human_to_product" else 23)
    mean = targets.astype(np.float64).mean(axis=0) / 255.0
    per_image = np.sqrt(((mean - test.target / 255.0) ** 2).mean(axis=(1, 2, 3)))
    assert scores["num_images"] == 7
    np.testing.assert_allclose(scores["rmse"], per_image.mean(), rtol=1e-5)
