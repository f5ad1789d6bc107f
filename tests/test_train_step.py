import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pldt_jax import config as config_lib
from pldt_jax import images, losses, sharding, train_step


def tiny_config(**loss):
    config = config_lib.default_config()
    config.model.width = 1 / 32
    # SGD keeps the update linear in the gradient, so float rounding stays rounding
    # (Adam's first step is about lr * sign(g), which flips for gradients near 0).
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.05
    config.loss.update(loss)
    return config


def random_batch(batch_size=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        key: rng.integers(0, 256, (batch_size, 64, 64, 3), dtype=np.uint8)
        for key in ("source", "target", "negative")
    }


def run(config, devices, batch):
    mesh = sharding.create_mesh(devices)
    states = jax.jit(
        lambda key: train_step.create_states(config, key, 10),
        out_shardings=sharding.replicated(mesh),
    )(jax.random.key(0))
    return train_step.sharded_train_step(config, mesh)(states, batch, jax.random.key(1))


def reference_step(config, states, batch, rng):
    """Algorithm 1 written plainly: three updates in turn, each with its own full forward pass."""
    source, target, negative = (
        images.to_float(jnp.asarray(batch[k])) for k in ("source", "target", "negative")
    )
    choice = train_step.draw_candidates(rng, source.shape[0], use_negatives=True)
    pick = choice[:, None, None, None]
    fake, conv_stats = train_step.apply_train(states.converter, states.converter.params, source)
    candidate = jnp.where(pick == 0, target, jnp.where(pick == 1, negative, fake))

    def rf_loss(p):
        logits, stats = train_step.apply_train(states.real_fake, p, candidate)
        return losses.real_fake_loss(logits, choice != 2), stats

    grads, stats = jax.grad(rf_loss, has_aux=True)(states.real_fake.params)
    real_fake = train_step.update(states.real_fake, grads, stats)

    def dd_loss(p):
        logits, stats = train_step.apply_train(
            states.domain, p, jnp.concatenate([source, candidate], -1)
        )
        return losses.domain_loss(logits, choice == 0), stats

    grads, stats = jax.grad(dd_loss, has_aux=True)(states.domain.params)
    domain = train_step.update(states.domain, grads, stats)

    def converter_loss(p):
        image, _ = train_step.apply_train(states.converter, p, source)
        seen = jnp.where(pick == 2, image, candidate)  # Eq. 6: the same candidates I.
        rf_logits, _ = train_step.apply_train(real_fake, real_fake.params, seen)
        dd_logits, _ = train_step.apply_train(
            domain, domain.params, jnp.concatenate([source, seen], -1)
        )
        return 0.5 * losses.converter_adversarial_loss(
            rf_logits, "non_saturating", choice == 2
        ) + 0.5 * losses.converter_adversarial_loss(dd_logits, "non_saturating", choice == 2)

    grads = jax.grad(converter_loss)(states.converter.params)
    converter = train_step.update(states.converter, grads, conv_stats)
    return train_step.States(converter, real_fake, domain)


def reference_all_candidates_step(config, states, batch):
    """The ports' scheme written plainly: every candidate of every sample, batches built by hand."""
    source, target, negative = (
        images.to_float(jnp.asarray(batch[k])) for k in ("source", "target", "negative")
    )
    size = source.shape[0]
    ones, zeros = jnp.ones(size), jnp.zeros(size)
    reals = [target, negative] if config.loss.use_negatives else [target]
    fake, conv_stats = train_step.apply_train(states.converter, states.converter.params, source)

    def bce(logits, labels):
        return jnp.mean(
            -labels * jax.nn.log_sigmoid(logits) - (1 - labels) * jax.nn.log_sigmoid(-logits)
        )

    rf_labels = jnp.concatenate([ones] * len(reals) + [zeros])

    def rf_loss(p):
        logits, stats = train_step.apply_train(states.real_fake, p, jnp.concatenate([*reals, fake]))
        return bce(logits, rf_labels), stats

    (rf_value, stats), grads = jax.value_and_grad(rf_loss, has_aux=True)(states.real_fake.params)
    real_fake = train_step.update(states.real_fake, grads, stats)

    sources = jnp.concatenate([source] * (len(reals) + 1))
    dd_labels = jnp.concatenate([ones] + [zeros] * len(reals))

    def dd_loss(p):
        pairs = jnp.concatenate([sources, jnp.concatenate([*reals, fake])], -1)
        logits, stats = train_step.apply_train(states.domain, p, pairs)
        return bce(logits, dd_labels), stats

    (dd_value, stats), grads = jax.value_and_grad(dd_loss, has_aux=True)(states.domain.params)
    domain = train_step.update(states.domain, grads, stats)

    def converter_loss(p):
        image, _ = train_step.apply_train(states.converter, p, source)
        seen = jnp.concatenate([*reals, image])
        rf_logits, _ = train_step.apply_train(real_fake, real_fake.params, seen)
        dd_logits, _ = train_step.apply_train(
            domain, domain.params, jnp.concatenate([sources, seen], -1)
        )
        # Non-saturating, over the B generated images only (the last B rows).
        return 0.5 * jnp.mean(-jax.nn.log_sigmoid(rf_logits[-size:])) + 0.5 * jnp.mean(
            -jax.nn.log_sigmoid(dd_logits[-size:])
        )

    c_value, grads = jax.value_and_grad(converter_loss)(states.converter.params)
    converter = train_step.update(states.converter, grads, conv_stats)
    values = {"d_real_fake_loss": rf_value, "d_domain_loss": dd_value, "converter_loss": c_value}
    return train_step.States(converter, real_fake, domain), values


def assert_trees_close(a, b, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=1e-5)


def test_step_is_algorithm_1():
    """Discriminators first, then the converter against the updated discriminators."""
    config = tiny_config()
    batch = random_batch()
    states = train_step.create_states(config, jax.random.key(0), 10)
    expected = jax.jit(lambda s, b, r: reference_step(config, s, b, r))(
        states, batch, jax.random.key(1)
    )
    new_states, metrics = run(config, jax.devices()[:1], batch)
    for name in ("converter", "real_fake", "domain"):
        before, after = getattr(states, name), getattr(new_states, name)
        changed = jax.tree.map(lambda x, y: bool(jnp.any(x != y)), before.params, after.params)
        assert all(jax.tree.leaves(changed)), f"{name} has parameters the step did not update"
        assert int(after.step) == 1
        assert_trees_close(after.params, getattr(expected, name).params)
        assert_trees_close(after.batch_stats, getattr(expected, name).batch_stats)
    for key in (
        "d_real_fake_loss",
        "d_domain_loss",
        "converter_loss",
        "mse",
        "d_domain/associated",
        "d_real_fake/generated",
    ):
        assert np.isfinite(float(metrics[key])), key


@pytest.mark.parametrize("use_negatives", [True, False])
def test_all_candidates_scheme_matches_plain_reference(use_negatives):
    config = tiny_config(candidates="all", use_negatives=use_negatives)
    batch = random_batch()
    states = train_step.create_states(config, jax.random.key(0), 10)
    expected, values = jax.jit(lambda s, b: reference_all_candidates_step(config, s, b))(
        states, batch
    )
    new_states, metrics = run(config, jax.devices()[:1], batch)
    for name in ("converter", "real_fake", "domain"):
        after = getattr(new_states, name)
        assert int(after.step) == 1
        assert_trees_close(after.params, getattr(expected, name).params)
        assert_trees_close(after.batch_stats, getattr(expected, name).batch_stats)
    for key, value in values.items():
        assert float(metrics[key]) == pytest.approx(float(value), rel=1e-5, abs=1e-6), key
    # Every kind is present, so each metric is a real mean (0 only for an absent kind).
    for key in ("d_real_fake/real", "d_real_fake/generated", "d_domain/associated"):
        assert 0 < float(metrics[key]) < 1, key
    assert (float(metrics["d_domain/irrelevant"]) > 0) == use_negatives


@pytest.mark.parametrize("use_negatives, count", [(True, 3), (False, 2)])
def test_all_candidates_batch_holds_every_candidate(use_negatives, count):
    """With 'all' each discriminator judges 3B images (2B without negatives), B of each kind."""
    size = 4
    rng = np.random.default_rng(0)
    target, negative, generated = (
        jnp.asarray(rng.normal(size=(size, 8, 8, 3)), jnp.float32) for _ in range(3)
    )
    images, kinds = train_step.candidate_batch(
        "all", None, target, negative, generated, use_negatives
    )
    assert images.shape == (count * size, 8, 8, 3)
    expected = [train_step.ASSOCIATED, train_step.IRRELEVANT, train_step.GENERATED]
    if not use_negatives:
        expected.remove(train_step.IRRELEVANT)
    np.testing.assert_array_equal(np.asarray(kinds), np.repeat(expected, size))
    by_kind = {
        train_step.ASSOCIATED: target,
        train_step.IRRELEVANT: negative,
        train_step.GENERATED: generated,
    }
    for kind in expected:
        np.testing.assert_array_equal(np.asarray(images[kinds == kind]), np.asarray(by_kind[kind]))
    pairs = train_step.with_source(target, images)
    assert pairs.shape == (count * size, 8, 8, 6)
    np.testing.assert_array_equal(np.asarray(pairs[-size:, ..., :3]), np.asarray(target))
    with pytest.raises(ValueError, match="candidate scheme"):
        train_step.candidate_batch("some", None, target, negative, generated, use_negatives)


def test_same_result_on_one_and_two_devices():
    assert jax.device_count() >= 2, "conftest.py asks XLA for two host devices"
    config = tiny_config()
    batch = random_batch(batch_size=8)
    one, metrics_one = run(config, jax.devices()[:1], batch)
    two, metrics_two = run(config, jax.devices()[:2], batch)
    assert_trees_close(one, two, atol=2e-6)
    for key in metrics_one:
        assert float(metrics_one[key]) == pytest.approx(float(metrics_two[key]), rel=1e-5, abs=1e-6)


def test_mse_only_leaves_discriminators_alone():
    """C+MSE: no discriminator is trained, the converter is."""
    config = tiny_config(real_fake_weight=0.0, domain_weight=0.0, mse_weight=1.0)
    batch = random_batch()
    states = train_step.create_states(config, jax.random.key(0), 10)
    new_states, metrics = run(config, jax.devices()[:1], batch)
    assert_trees_close(new_states.real_fake.params, states.real_fake.params, atol=0)
    assert_trees_close(new_states.domain.params, states.domain.params, atol=0)
    assert int(new_states.domain.step) == 0
    assert set(metrics) == {"c_mse", "converter_loss", "mse", "grad_norm/converter", "finite"}


def test_warmup_config_is_the_runs_mse_only_step():
    config = tiny_config(mse_weight=2.0)
    warmup = train_step.warmup_config(config)
    assert (warmup.loss.real_fake_weight, warmup.loss.domain_weight) == (0.0, 0.0)
    assert warmup.loss.mse_weight == 2.0 and warmup.model == config.model
    assert config.loss.real_fake_weight == 0.5  # The run's own config is left as it was.
    new_states, metrics = run(warmup, jax.devices()[:1], random_batch())
    assert int(new_states.converter.step) == 1 and int(new_states.real_fake.step) == 0
    assert "c_real_fake" not in metrics


@pytest.mark.parametrize("discriminators, pool", [(0.5, 4), (0.0, 1)])
def test_mse_pool_applies_with_the_discriminators_only(discriminators, pool):
    """loss.mse_pool = 4: the adversarial step's mean-square term compares 4x4 block means
    of its output; without discriminators (C+MSE, the warm-up) it compares pixels."""
    config = tiny_config(
        real_fake_weight=discriminators, domain_weight=discriminators, mse_weight=2.0, mse_pool=4
    )
    batch = random_batch()
    states = train_step.create_states(config, jax.random.key(0), 10)
    _, metrics = run(config, jax.devices()[:1], batch)
    generated, _ = train_step.apply_train(
        states.converter, states.converter.params, images.to_float(batch["source"])
    )
    target = images.to_float(batch["target"])
    assert float(metrics["c_mse"]) == pytest.approx(
        float(2.0 * losses.mse(generated, target, pool)), rel=1e-4
    )
    assert float(metrics["mse"]) == pytest.approx(float(losses.mse(generated, target)), rel=1e-4)


@pytest.mark.parametrize(
    "term, distance",
    [
        ("spectrum", losses.amplitude_spectrum_distance),
        ("silhouette", losses.silhouette_mse),
        ("texture", losses.texture_distance),
        ("cross_texture", lambda x, y: losses.cross_distance(x, y, (2, 4, 8), 16)),
        ("color_moments", losses.color_moments_distance),
    ],
)
def test_a_pixel_term_alone_trains_the_converter_by_its_own_gradient(term, distance):
    """The amplitude-spectrum, silhouette, texture, cross-texture or colour-moments term alone
    (no mse) trains the converter: its loss is the weighted distance of the step's output,
    and the step moves the converter."""
    config = tiny_config(real_fake_weight=0.0, domain_weight=0.0, **{f"{term}_weight": 3.0})
    batch = random_batch()
    states = train_step.create_states(config, jax.random.key(0), 10)
    new_states, metrics = run(config, jax.devices()[:1], batch)
    assert set(metrics) == {f"c_{term}", "converter_loss", "mse", "grad_norm/converter", "finite"}
    generated, _ = train_step.apply_train(
        states.converter, states.converter.params, images.to_float(batch["source"])
    )
    expected = 3.0 * distance(generated, images.to_float(batch["target"]))
    assert float(metrics[f"c_{term}"]) == pytest.approx(float(expected), rel=1e-4)
    assert float(metrics["grad_norm/converter"]) > 0
    moved = jax.tree.leaves(
        jax.tree.map(
            lambda a, b: float(jnp.abs(a - b).max()),
            new_states.converter.params,
            states.converter.params,
        )
    )
    assert max(moved) > 0


def normalised_features(state, x):
    """A discriminator's three batch-norm outputs on `x`, captured by module name."""
    _, captured = state.apply_fn(
        {"params": state.params, "batch_stats": state.batch_stats},
        x,
        train=True,
        mutable=["batch_stats", "intermediates"],
        capture_intermediates=True,
    )
    trunk = captured["intermediates"]["ConvTrunk_0"]
    features = [trunk[name]["__call__"][0] for name in sorted(trunk) if "BatchNorm" in name]
    assert len(features) == 3
    return features


def mean_feature_distance(state, products, generated):
    features = normalised_features(state, jnp.concatenate([products, generated]))
    half = products.shape[0]
    return np.mean([np.abs(f[:half] - f[half:]).mean() for f in features])


@pytest.mark.parametrize("matched", ["real_fake", "domain", "both"])
def test_feature_matching_compares_the_updated_discriminators_features(matched):
    """loss.feature_matching_weight: the term is the weighted mean absolute difference of the
    updated discriminators' batch-norm outputs on the products and on the step's output,
    normalised as one batch ('both' averages the two discriminators' terms);
    the warm-up's step leaves it out with the discriminators."""
    config = tiny_config(
        feature_matching_weight=3.0, feature_matching_discriminators=matched, mse_weight=1.0
    )
    batch = random_batch()
    states = train_step.create_states(config, jax.random.key(0), 10)
    new_states, metrics = run(config, jax.devices()[:1], batch)
    source, target = (images.to_float(batch[k]) for k in ("source", "target"))
    generated, _ = train_step.apply_train(states.converter, states.converter.params, source)
    distances = []
    if matched != "domain":
        distances.append(mean_feature_distance(new_states.real_fake, target, generated))
    if matched != "real_fake":
        distances.append(
            mean_feature_distance(
                new_states.domain,
                jnp.concatenate([source, target], axis=-1),
                jnp.concatenate([source, generated], axis=-1),
            )
        )
    expected = 3.0 * np.mean(distances)
    assert float(metrics["c_feature_matching"]) == pytest.approx(float(expected), rel=1e-4)
    _, warmup_metrics = run(train_step.warmup_config(config), jax.devices()[:1], batch)
    assert "c_feature_matching" not in warmup_metrics


def test_flip_augmentation_keeps_the_drawn_candidates():
    """The jitter takes a key of its own: on mirror-symmetric images, which a flip leaves as
    they are, the step with flips is exactly the step without (same candidates drawn)."""
    plain, flipped = tiny_config(), tiny_config()
    flipped.dataset.flip = True
    half = random_batch()
    symmetric = {
        k: np.concatenate([v[:, :, :32], v[:, :, :32][:, :, ::-1]], 2) for k, v in half.items()
    }
    states, metrics = run(plain, jax.devices()[:1], symmetric)
    states_flipped, metrics_flipped = run(flipped, jax.devices()[:1], symmetric)
    assert_trees_close(states_flipped, states, atol=0)
    assert float(metrics_flipped["converter_loss"]) == float(metrics["converter_loss"])
    _, metrics_asymmetric = run(flipped, jax.devices()[:1], half)
    _, metrics_plain = run(plain, jax.devices()[:1], half)
    assert float(metrics_asymmetric["converter_loss"]) != float(metrics_plain["converter_loss"])


def test_candidates_drawn_with_equal_probability():
    choice = np.asarray(train_step.draw_candidates(jax.random.key(0), 30000, use_negatives=True))
    np.testing.assert_allclose(np.bincount(choice, minlength=3) / 30000, [1 / 3] * 3, atol=0.01)
    choice = np.asarray(train_step.draw_candidates(jax.random.key(0), 30000, use_negatives=False))
    assert set(np.unique(choice)) == {train_step.ASSOCIATED, train_step.GENERATED}
    assert abs((choice == train_step.GENERATED).mean() - 0.5) < 0.01
