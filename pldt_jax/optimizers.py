"""The optimiser and learning-rate schedule that all three networks train with (PLDT 5.2)."""

from typing import Any

import jax
import ml_collections
import optax

from pldt_jax.config import OPTIMIZERS


def total_steps(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
    """`config.total_steps` when set, else the epoch schedule."""
    if config.total_steps > 0:
        return config.total_steps
    return config.num_epochs * steps_per_epoch


def learning_rate_schedule(config: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
    """Constant rate, multiplied by decay_factor after decay_epochs of num_epochs (25 of 30).

    When total_steps overrides the epochs, the decay keeps its place in proportion.
    """
    opt = config.optimizer
    decay_step = round(num_steps * opt.decay_epochs / config.num_epochs)
    return optax.piecewise_constant_schedule(opt.learning_rate, {decay_step: opt.decay_factor})


def kernels(params: Any) -> Any:
    """True at the convolution and dense kernels of `params`, False at biases and batch norm."""
    return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key == "kernel", params)


def create_optimizer(
    config: ml_collections.ConfigDict, num_steps: int
) -> optax.GradientTransformation:
    """The config's optimiser; with `weight_decay` > 0 it also decays the kernels (`kernels`).

    Without decay it is plain `optax.sgd` or `optax.adam`, whose state earlier checkpoints hold.
    """
    opt = config.optimizer
    schedule = learning_rate_schedule(config, num_steps)
    decay = float(opt.weight_decay)
    if opt.name == "sgd":
        sgd = optax.sgd(schedule, momentum=opt.momentum)
        return optax.chain(optax.add_decayed_weights(decay, kernels), sgd) if decay else sgd
    if opt.name == "adam":
        if decay:
            return optax.adamw(schedule, b1=opt.momentum, weight_decay=decay, mask=kernels)
        return optax.adam(schedule, b1=opt.momentum)
    raise ValueError(f"unknown optimizer {opt.name!r}; expected one of {OPTIMIZERS}")
