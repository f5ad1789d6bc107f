import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pldt_jax import config as config_lib
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


def _garment(value: float) -> jax.Array:
    """A batch of one 16x16 white image with an 8x8 square of grey `value` in [-1, 1]."""
    image = np.ones((1, 16, 16, 3), np.float32)
    image[:, 4:12, 4:12] = value
    return jnp.asarray(image)


def test_silhouette_marks_every_garment_colour_and_no_background():
    shape = np.asarray(losses.silhouette(_garment(0.88)))  # (240, 240, 240): a white top
    assert shape.shape == (1, 16, 16)
    assert shape[0, 4:12, 4:12].min() > 0.6
    assert shape[0, :4].max() == 0.0 and shape[0, :, 12:].max() == 0.0
    assert float(losses.silhouette(_garment(-1.0))[0, 8, 8]) > 0.96


def test_silhouette_mse_weighs_a_pale_and_a_dark_garment_alike():
    """A white answer misses a pale top and a dark one: the mean-square error counts the pale
    one's miss 100 times less, the silhouettes' less than 2 times."""
    answer = jnp.ones((1, 16, 16, 3))
    pale, dark = _garment(0.8), _garment(-1.0)
    assert float(losses.mse(answer, dark)) / float(losses.mse(answer, pale)) == pytest.approx(100)
    ratio = float(losses.silhouette_mse(answer, dark)) / float(losses.silhouette_mse(answer, pale))
    assert 1 < ratio < 2
    # Right shape, wrong colour: a fraction of the miss.
    assert float(losses.silhouette_mse(pale, dark)) < 0.1 * float(
        losses.silhouette_mse(answer, dark)
    )


def test_silhouette_mse_pulls_a_grey_answer_towards_white_background():
    grey, white = jnp.zeros((1, 16, 16, 3)), jnp.ones((1, 16, 16, 3))
    gradient = jax.grad(losses.silhouette_mse)(grey, white)
    assert float(gradient.min()) < 0 and float(gradient.max()) <= 0  # every step lightens


def _stripes(phase: int) -> jax.Array:
    """A batch of one 16x16 RGB image of horizontal stripes (period 4), rolled by `phase`."""
    rows = (np.arange(16)[:, None] + phase) % 4 < 2
    image = np.where(rows[..., None], 0.8, -0.6) * np.ones((16, 16, 3))
    return jnp.asarray(image[None], jnp.float32)


def test_amplitude_spectrum_distance_ignores_a_patterns_phase_but_not_its_absence():
    target = _stripes(0)
    shifted = _stripes(1)
    flat = jnp.full_like(target, float(target.mean()))  # The blur the mean-square term prefers.
    spectrum = losses.amplitude_spectrum_distance
    assert float(spectrum(target, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(spectrum(shifted, target)) == pytest.approx(0.0, abs=1e-6)
    # The mean-square error ranks them the other way round: the shifted stripes are off
    # by their whole contrast on half the pixels, the flat image by half of it everywhere.
    assert float(losses.mse(shifted, target)) > float(losses.mse(flat, target))
    assert float(spectrum(flat, target)) > 0.1
    # Parseval: never more than the mean-square error.
    for image in (shifted, flat, -target):
        assert float(spectrum(image, target)) <= float(losses.mse(image, target)) + 1e-6


def test_pooled_mse_compares_block_means_and_ignores_detail_inside_them():
    target = _stripes(0)  # 2 px on, 2 off: every 4x4 block holds both colours equally.
    flat = jnp.full_like(target, float(target.mean()))
    assert float(losses.mse(flat, target)) > 0.4  # The pixels see the stripes...
    assert float(losses.mse(flat, target, pool=4)) == pytest.approx(0.0, abs=1e-6)  # ...not so.
    assert float(losses.mse(flat, target, pool=2)) > 0.1  # 2x2 blocks still see them.
    means = np.asarray(losses.block_means(target, 4))
    assert means.shape == (1, 4, 4, 3) and np.allclose(means, 0.1)
    # A coarse error counts in full, and pooling never adds to the pixels' error (Jensen).
    coarse = target + 0.5 * (jnp.arange(16) >= 8)[None, None, :, None]
    assert float(losses.mse(coarse, target, pool=4)) == pytest.approx(0.125, rel=1e-5)
    for image in (flat, coarse, _stripes(1)):
        assert float(losses.mse(image, target, pool=4)) <= float(losses.mse(image, target)) + 1e-6


def test_amplitude_spectrum_distance_has_finite_gradients_at_a_flat_image():
    # Every frequency but the mean is exactly 0 there, where |z| has no derivative.
    flat = jnp.full((2, 8, 8, 3), 0.3)
    grad = jax.grad(losses.amplitude_spectrum_distance)(flat, _stripes(0)[:, :8, :8].repeat(2, 0))
    assert np.all(np.isfinite(np.asarray(grad))) and float(jnp.abs(grad).sum()) > 0


def test_amplitude_spectrum_distance_leaves_low_frequencies_to_the_mean_square_term():
    target = _stripes(0)  # Period 4 px on 16 px: 4 cycles per image (and odd multiples).
    coarse = 0.5 * jnp.cos(2 * jnp.pi * jnp.arange(16) / 16)[None, None, :, None]  # 1 cycle.
    distance = losses.amplitude_spectrum_distance
    # A coarse change counts only below the cut-off, the stripes above it.
    assert float(distance(target + coarse, target, min_frequency=2)) == pytest.approx(0, abs=1e-6)
    assert float(distance(target + coarse, target)) > 0.01
    assert float(distance(jnp.zeros_like(target), target, min_frequency=4)) > 0.1


def test_texture_distance_tells_a_patterns_texture_and_direction_not_its_phase():
    target = _stripes(0)  # Horizontal stripes: the image varies down, not across.
    shifted, vertical = _stripes(1), jnp.swapaxes(target, 1, 2)
    flat = jnp.full_like(target, float(target.mean()))
    energy = np.asarray(losses.texture_energy(target, pool=8))
    assert energy.shape == (1, 2, 2, 6)
    assert energy[..., :3].max() < 0.01 and energy[..., 3:].min() > 0.5  # across, then down
    distance = losses.texture_distance
    assert float(distance(target, target)) == pytest.approx(0.0, abs=1e-6)
    # The stripes at another phase are near, their blend far: the mean-square error ranks
    # the two the other way round.
    assert float(distance(shifted, target)) < 0.05 * float(distance(flat, target))
    assert float(losses.mse(shifted, target)) > float(losses.mse(flat, target))
    # Stripes the other way are as far as no stripes at all, or farther.
    assert float(distance(vertical, target)) >= float(distance(flat, target))
    # Finite at a flat image, where the square root alone has no derivative.
    assert np.all(np.isfinite(np.asarray(jax.grad(distance)(flat, target))))


def test_texture_energy_at_longer_lags_tells_broad_stripes_from_faint_thin_lines():
    """1-px lines at half the contrast of 4-px stripes differ as much from the next pixel
    down, so lag 1 alone takes one for the other; 2 and 4 px apart the lines' pixels agree
    again, where the stripes' still differ."""
    y = np.mgrid[0:32, 0:32][0]

    def stripes(width, contrast):
        lit = (y // width) % 2 == 0
        return jnp.asarray(np.where(lit, contrast, -contrast)[None, :, :, None], jnp.float32)

    broad, thin = stripes(4, 1.0), stripes(1, 0.5)
    # Lag 1, the default, is the neighbouring pixels' difference (0 past the last one).
    noise = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    neighbours = [np.diff(noise, axis=axis, append=np.take(noise, [-1], axis)) for axis in (2, 1)]
    blocks = np.concatenate(neighbours, -1).reshape(2, 2, 8, 2, 8, 6) ** 2
    np.testing.assert_allclose(
        np.asarray(losses.texture_energy(jnp.asarray(noise))),
        np.sqrt(blocks.mean(axis=(2, 4)) + 1e-6),
        rtol=1e-5,
    )
    # Per block, for lags 1, 2 and 4: across, then down. The last row of blocks, where the
    # edge repeats, is left out.
    broad_energy = np.asarray(losses.texture_energy(broad, 8, (1, 2, 4)))[:, :3]
    thin_energy = np.asarray(losses.texture_energy(thin, 8, (1, 2, 4)))[:, :3]
    assert broad_energy.shape == (1, 3, 4, 6)
    np.testing.assert_allclose(broad_energy[0, 0, 0], [0, 1, 0, 2**0.5, 0, 2], atol=2e-3)
    np.testing.assert_allclose(thin_energy[0, 0, 0], [0, 1, 0, 0, 0, 0], atol=2e-3)
    lags = (1, 2, 4)
    at_lag_one = float(losses.texture_distance(thin, broad, 8))
    assert at_lag_one < 0.01 < float(losses.texture_distance(thin, broad, 8, lags))


def test_color_moments_distance_tells_a_patterns_two_colours_not_their_phase():
    """Yellow and black stripes (each 4 px, so an 8-px block holds one period at any phase):
    moved, they are at 0; in red and green, whose channels hold the same two values, or as
    their blend, they are far, where the texture term tells the swap from nothing."""
    y, x = np.mgrid[0:32, 0:32]

    def stripes(on, off, phase=0):
        lit = ((x + phase) // 4) % 2 == 0
        return jnp.asarray(np.where(lit[..., None], np.array(on), np.array(off))[None], jnp.float32)

    target = stripes([1.0, 1.0, -1.0], [-1.0, -1.0, -1.0])
    moved = stripes([1.0, 1.0, -1.0], [-1.0, -1.0, -1.0], phase=3)
    swapped = stripes([1.0, -1.0, -1.0], [-1.0, 1.0, -1.0])
    blend = jnp.broadcast_to(jnp.mean(target, axis=(1, 2), keepdims=True), target.shape)
    moments = np.asarray(losses.color_moments(target, pool=8))
    assert moments.shape == (1, 4, 4, 18)
    distance = losses.color_moments_distance
    assert float(distance(moved, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.mse(moved, target)) > 0.5
    assert float(losses.texture_distance(swapped, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(distance(swapped, target)) > 0.5
    assert float(distance(blend, target)) > 0.5


def _checks(phase: int, side: int = 4) -> jax.Array:
    """A batch of one 32x32 RGB checkerboard of `side`-pixel squares, moved by `phase`."""
    y, x = np.mgrid[0:32, 0:32]
    squares = ((x + phase) // side + (y + 2 * phase) // side) % 2 == 0
    image = np.where(squares[..., None], np.array([0.8, 0.6, -0.6]), -0.5)
    return jnp.asarray(image[None], jnp.float32)


def test_cross_distance_tells_checks_from_a_plaid_not_their_phase():
    target = _checks(0)
    lines = np.arange(32) % 4 == 0
    # A plaid of thin lines: a horizontal pattern plus a vertical one, in the checks' colours.
    plaid = jnp.asarray(
        np.broadcast_to(0.7 * lines[:, None, None] + 0.7 * lines[None, :, None] - 0.4, (32, 32, 3))
    )[None]
    flat = jnp.full_like(target, float(target.mean()))
    lags = (2, 4)
    energy = np.asarray(losses.cross_energy(target, lags, pool=16))
    assert energy.shape == (1, 2, 2, 6)
    # No plaid, stripe or flat image varies across and down together.
    for separable in (plaid, _stripes(0), flat):
        assert float(jnp.max(losses.cross_energy(separable, lags, pool=16))) < 0.01
    distance = losses.cross_distance
    assert float(distance(target, target, lags, 16)) == pytest.approx(0.0, abs=1e-6)
    # The checks moved are near, the plaid as far as their blend.
    shifted = _checks(1)
    assert float(distance(shifted, target, lags, 16)) < 0.1 * float(
        distance(plaid, target, lags, 16)
    )
    assert float(distance(plaid, target, lags, 16)) == pytest.approx(
        float(distance(flat, target, lags, 16)), rel=0.01
    )
    # Checks of another size are far.
    assert float(distance(_checks(0, side=2), target, lags, 16)) > 0.3 * float(
        distance(flat, target, lags, 16)
    )
    assert np.all(np.isfinite(np.asarray(jax.grad(distance)(flat, target, lags, 16))))


def test_feature_matching_averages_each_layers_mean_absolute_difference():
    products = [jnp.zeros((2, 4, 4, 3)), jnp.zeros((2, 8))]
    generated = [jnp.full((2, 4, 4, 3), -2.0), jnp.full((2, 8), 4.0)]
    assert float(losses.feature_matching(products, generated)) == pytest.approx(3.0)
    assert float(losses.feature_matching(products, products)) == 0.0
    with pytest.raises(ValueError):
        losses.feature_matching(products, generated[:1])


@pytest.mark.parametrize("adversarial", [True, False])
def test_pixel_terms_are_the_configs_weighted_distances_in_the_tables_order(adversarial):
    """With the discriminators the mean-square term compares the pooled block means, without
    them (C+MSE, the warm-up) pixels; a term weighted 0 is left out."""
    loss = config_lib.default_config().loss
    loss.update(mse_weight=2.0, mse_pool=4, texture_weight=3.0, texture_pool=16)
    loss.update(texture_lags=(1, 3))
    loss.update(cross_texture_weight=5.0, cross_texture_pool=16, cross_texture_lags=(2, 4))
    loss.update(spectrum_weight=7.0, spectrum_min_frequency=2, silhouette_weight=0.0)
    loss.update(color_moments_weight=11.0, color_moments_pool=4)
    terms = losses.pixel_terms(loss, adversarial)
    assert list(terms) == ["mse", "texture", "cross_texture", "color_moments", "spectrum"]
    generated, product = _checks(1), _checks(0, side=8)
    expected = {
        "mse": (2.0, losses.mse(generated, product, 4 if adversarial else 1)),
        "texture": (3.0, losses.texture_distance(generated, product, 16, (1, 3))),
        "cross_texture": (5.0, losses.cross_distance(generated, product, (2, 4), 16)),
        "color_moments": (11.0, losses.color_moments_distance(generated, product, 4)),
        "spectrum": (7.0, losses.amplitude_spectrum_distance(generated, product, 2)),
    }
    for name, (weight, distance) in terms.items():
        assert weight == expected[name][0]
        assert float(distance(generated, product)) == pytest.approx(float(expected[name][1]))
    assert float(terms["mse"][1](generated, product)) != pytest.approx(
        float(losses.mse(generated, product, 1 if adversarial else 4))
    )
