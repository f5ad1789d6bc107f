import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pldt_jax import config as config_lib
from pldt_jax import optimizers


def layer_params():
    return {
        "Conv_0": {"kernel": jnp.ones((3, 3, 2, 2)), "bias": jnp.ones(2)},
        "BatchNorm_0": {"scale": jnp.ones(2), "bias": jnp.ones(2)},
    }


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_weight_decay_shrinks_the_kernels_alone(name):
    config = config_lib.default_config()
    config.optimizer.name, config.optimizer.weight_decay = name, 0.5
    params = layer_params()
    tx = optimizers.create_optimizer(config, num_steps=100)
    no_gradient = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(no_gradient, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    shrunk = 1 - config.optimizer.learning_rate * 0.5
    np.testing.assert_allclose(new["Conv_0"]["kernel"], shrunk, rtol=1e-6)
    for untouched in (new["Conv_0"]["bias"], *new["BatchNorm_0"].values()):
        np.testing.assert_array_equal(untouched, 1.0)


@pytest.mark.parametrize("name, plain", [("adam", optax.adam), ("sgd", optax.sgd)])
def test_without_weight_decay_the_optimizer_state_is_the_plain_one(name, plain):
    # So the checkpoints of runs without decay restore as they did before the option.
    config = config_lib.default_config()
    config.optimizer.name = name
    params = layer_params()
    state = optimizers.create_optimizer(config, num_steps=100).init(params)
    expected = plain(optax.constant_schedule(1e-3), 0.5).init(params)
    assert jax.tree.structure(state) == jax.tree.structure(expected)


def test_learning_rate_schedule_decays_after_25_of_30_epochs():
    config = config_lib.default_config()
    schedule = optimizers.learning_rate_schedule(config, num_steps=3000)
    assert float(schedule(2499)) == pytest.approx(2e-4)
    assert float(schedule(2501)) == pytest.approx(2e-5)
    assert optimizers.total_steps(config, steps_per_epoch=100) == 3000
    config.total_steps = 40
    assert optimizers.total_steps(config, steps_per_epoch=100) == 40
