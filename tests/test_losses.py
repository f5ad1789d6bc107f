import math

import jax.numpy as jnp
import numpy as np
import pytest

from pldt_jax import losses


def bce(p, t):
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_bce_on_logits_matches_hand_computation():
    logits = jnp.array([0.0, 2.0, -1.0])
    labels = jnp.array([1, 0, 0])
    p = 1 / (1 + np.exp(-np.array([0.0, 2.0, -1.0])))
    expected = np.mean([bce(p[0], 1), bce(p[1], 0), bce(p[2], 0)])
    assert float(losses.bce_with_logits(logits, labels)) == pytest.approx(expected, rel=1e-6)


def test_bce_stays_finite_for_confident_wrong_discriminator():
    value = losses.bce_with_logits(jnp.array([200.0, -200.0]), jnp.array([0, 1]))
    assert float(value) == pytest.approx(200.0)


def test_eq2_and_eq5_targets():
    logits = jnp.array([3.0, 3.0])
    # Real/fake: an irrelevant real product is still "real".
    assert float(losses.real_fake_loss(logits, jnp.array([True, True]))) < 0.05
    # Domain: only the associated product is a positive.
    assert float(losses.domain_loss(logits, jnp.array([True, False]))) == pytest.approx(
        (bce(1 / (1 + math.exp(-3)), 1) + bce(1 / (1 + math.exp(-3)), 0)) / 2, rel=1e-6
    )


def test_converter_losses_count_generated_candidates_only():
    logits = jnp.array([0.0, 1.0, 5.0])
    is_generated = jnp.array([True, True, False])
    p = 1 / (1 + np.exp(-np.array([0.0, 1.0])))
    non_saturating = -np.log(p).mean()
    paper = np.log(1 - p).mean()  # Eq. 6: minus the discriminator's loss on generated images.
    assert float(
        losses.converter_adversarial_loss(logits, "non_saturating", is_generated)
    ) == pytest.approx(non_saturating, rel=1e-6)
    assert float(losses.converter_adversarial_loss(logits, "paper", is_generated)) == (
        pytest.approx(paper, rel=1e-6)
    )
    nothing_generated = jnp.zeros(3, bool)
    assert float(losses.converter_adversarial_loss(logits, "paper", nothing_generated)) == 0.0
    with pytest.raises(ValueError):
        losses.converter_adversarial_loss(logits, "wasserstein", is_generated)


def test_mse():
    assert float(losses.mse(jnp.ones((1, 2, 2, 3)), jnp.zeros((1, 2, 2, 3)))) == 1.0
    assert float(losses.mse(jnp.full((2, 2), 0.5), jnp.array([[0.5, 0.5], [0.5, 1.5]]))) == 0.25
