import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pldt_jax import config as config_lib
from pldt_jax import losses, step


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
    mesh = step.create_mesh(devices)
    states = jax.jit(
        lambda key: step.create_states(config, key, 10), out_shardings=step.replicated(mesh)
    )(jax.random.key(0))
    return step.jit_train_step(config, mesh)(states, batch, jax.random.key(1))


def reference_step(config, states, batch, rng):
    """Algorithm 1 written plainly: three updates in turn, each with its own full forward pass."""
    source, target, negative = (
        step.to_float(jnp.asarray(batch[k])) for k in ("source", "target", "negative")
    )
    choice = step.draw_candidates(rng, source.shape[0], use_negatives=True)
    pick = choice[:, None, None, None]
    fake, conv_stats = step.apply_train(states.converter, states.converter.params, source)
    candidate = jnp.where(pick == 0, target, jnp.where(pick == 1, negative, fake))

    def rf_loss(p):
        logits, stats = step.apply_train(states.real_fake, p, candidate)
        return losses.real_fake_loss(logits, choice != 2), stats

    grads, stats = jax.grad(rf_loss, has_aux=True)(states.real_fake.params)
    real_fake = step.update(states.real_fake, grads, stats)

    def dd_loss(p):
        logits, stats = step.apply_train(states.domain, p, jnp.concatenate([source, candidate], -1))
        return losses.domain_loss(logits, choice == 0), stats

    grads, stats = jax.grad(dd_loss, has_aux=True)(states.domain.params)
    domain = step.update(states.domain, grads, stats)

    def converter_loss(p):
        image, _ = step.apply_train(states.converter, p, source)
        seen = jnp.where(pick == 2, image, candidate)  # Eq. 6: the same candidates I.
        rf_logits, _ = step.apply_train(real_fake, real_fake.params, seen)
        dd_logits, _ = step.apply_train(domain, domain.params, jnp.concatenate([source, seen], -1))
        return 0.5 * losses.converter_adversarial_loss(
            rf_logits, "non_saturating", choice == 2
        ) + 0.5 * losses.converter_adversarial_loss(dd_logits, "non_saturating", choice == 2)

    grads = jax.grad(converter_loss)(states.converter.params)
    converter = step.update(states.converter, grads, conv_stats)
    return step.States(converter, real_fake, domain)


def assert_trees_close(a, b, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=1e-5)


def test_step_is_algorithm_1():
    """Discriminators first, then the converter against the updated discriminators."""
    config = tiny_config()
    batch = random_batch()
    states = step.create_states(config, jax.random.key(0), 10)
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
    states = step.create_states(config, jax.random.key(0), 10)
    new_states, metrics = run(config, jax.devices()[:1], batch)
    assert_trees_close(new_states.real_fake.params, states.real_fake.params, atol=0)
    assert_trees_close(new_states.domain.params, states.domain.params, atol=0)
    assert int(new_states.domain.step) == 0
    assert set(metrics) == {"c_mse", "converter_loss", "mse", "grad_norm/converter", "finite"}


def test_candidates_drawn_with_equal_probability():
    choice = np.asarray(step.draw_candidates(jax.random.key(0), 30000, use_negatives=True))
    np.testing.assert_allclose(np.bincount(choice, minlength=3) / 30000, [1 / 3] * 3, atol=0.01)
    choice = np.asarray(step.draw_candidates(jax.random.key(0), 30000, use_negatives=False))
    assert set(np.unique(choice)) == {step.ASSOCIATED, step.GENERATED}
    assert abs((choice == step.GENERATED).mean() - 0.5) < 0.01


def test_learning_rate_schedule_decays_after_25_of_30_epochs():
    config = config_lib.default_config()
    schedule = step.learning_rate_schedule(config, num_steps=3000)
    assert float(schedule(2499)) == pytest.approx(2e-4)
    assert float(schedule(2501)) == pytest.approx(2e-5)
    assert step.total_steps(config, steps_per_epoch=100) == 3000
    config.total_steps = 40
    assert step.total_steps(config, steps_per_epoch=100) == 40
