"""Orbax checkpoints of a run: the three TrainStates, its progress and the config it ran with.

Each network is its own checkpoint item, so sampling and evaluation read the
converter alone, and the saved config rebuilds exactly the model that was trained.
"""

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

from pldt_jax import errors
from pldt_jax.config import default_config
from pldt_jax.models import discriminator_width
from pldt_jax.train_step import States, TrainState, create_states

NETWORKS = ("converter", "real_fake", "domain")


class CheckpointError(errors.Error):
    """No usable checkpoint where one was expected."""


def create_manager(directory: str | os.PathLike, max_to_keep: int = 3) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        os.path.abspath(directory),
        item_names=(*NETWORKS, "progress", "config"),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
    )


@contextlib.contextmanager
def finished_on_error(manager: ocp.CheckpointManager) -> Iterator[None]:
    """On an exception, lets the manager's background writes end before it propagates.

    Left running (a full disk fails one item of a save while the others go on), they fail again
    at interpreter exit, whose executors are shut down, and print a traceback after the error
    message the user should read last. Their own errors are dropped: the exception that is
    leaving says what went wrong.
    """
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            manager.close()
        join_background_writes()
        raise


def join_background_writes(timeout_s: float = 60.0) -> None:
    """Waits, at most `timeout_s` in all, for Orbax's writer threads still running.

    `manager.close()` stops at the first failed item of a save and leaves the other items'
    writers (e.g. their metadata, written after their commit) behind.
    """
    deadline = time.monotonic() + timeout_s
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and type(thread).__module__.startswith("orbax"):
            thread.join(max(0.0, deadline - time.monotonic()))


def save(
    manager: ocp.CheckpointManager,
    step: int,
    states: States,
    progress: dict[str, Any],
    config: ml_collections.ConfigDict,
) -> None:
    """Saves everything needed to continue; `progress` holds the rng and data position."""
    items = {name: ocp.args.StandardSave(getattr(states, name)) for name in NETWORKS}
    manager.save(
        step,
        args=ocp.args.Composite(
            **items,
            progress=ocp.args.JsonSave(progress),
            config=ocp.args.JsonSave(config.to_dict()),
        ),
    )


def abstract_states(config: ml_collections.ConfigDict, sharding: jax.sharding.Sharding) -> States:
    """Shapes, dtypes and placement of the states, computed without running anything."""
    shapes = jax.eval_shape(lambda key: create_states(config, key, 1), jax.random.key(0))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)


# What decides the shapes of the states: a checkpoint only fits a config that agrees on these.
ARCHITECTURE_KEYS = (
    "resolution",
    "model.converter",
    "model.width",
    "model.discriminator_width",
    "model.code_dim",
    "model.encoder_stage_convs",
    "model.encoder_attention_heads",
    "optimizer.name",
)
# Settings that decide the states' shapes only by being on (> 0) or off: the optimiser keeps
# another state with weight decay than without.
SWITCH_KEYS = ("optimizer.weight_decay",)
# Settings whose 0 stands for another's value: compared as resolved, so that 0 and the value
# it stands for are the same model.
RESOLVED = {"model.discriminator_width": lambda config: discriminator_width(config.model)}


def _setting(config: ml_collections.ConfigDict, key: str) -> Any:
    if key in RESOLVED:
        return RESOLVED[key](config)
    for part in key.split("."):
        config = config[part]
    return config


def check_compatible(saved: ml_collections.ConfigDict, config: ml_collections.ConfigDict) -> None:
    """Raises a CheckpointError naming every architecture setting that differs."""
    differences = [
        f"{key}: checkpoint {_setting(saved, key)!r}, config {_setting(config, key)!r}"
        for key in ARCHITECTURE_KEYS
        if _setting(saved, key) != _setting(config, key)
    ]
    differences += [
        f"{key}: checkpoint {_setting(saved, key)!r}, config {_setting(config, key)!r} "
        "(on in one, off in the other)"
        for key in SWITCH_KEYS
        if (_setting(saved, key) > 0) != (_setting(config, key) > 0)
    ]
    if differences:
        raise CheckpointError(
            "the checkpoint was trained with another model: "
            + "; ".join(differences)
            + ". Use another work dir, or the checkpoint's settings."
        )


def restore(
    manager: ocp.CheckpointManager, like: States, config: ml_collections.ConfigDict | None = None
) -> tuple[int, States, dict[str, Any]] | None:
    """The latest (step, states, progress), placed like `like`; None when there is none.

    With `config`, first checks that the checkpoint was trained with the same architecture,
    so a mismatch is a clear error instead of a shape error from deep inside Orbax.
    """
    step = manager.latest_step()
    if step is None:
        return None
    if config is not None:
        check_compatible(saved_config(manager, step), config)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    items = {name: ocp.args.StandardRestore(getattr(abstract, name)) for name in NETWORKS}
    restored = manager.restore(
        step, args=ocp.args.Composite(**items, progress=ocp.args.JsonRestore())
    )
    restored_states = States(**{name: restored[name] for name in NETWORKS})
    return step, restored_states, restored["progress"]


def saved_config(manager: ocp.CheckpointManager, step: int) -> ml_collections.ConfigDict:
    """The config a checkpoint was trained with, over `default_config()`: a key added to the
    project after the checkpoint was written keeps its default, the behaviour the run had."""
    restored = manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    config = default_config()
    config.update(restored["config"])
    return config


def restore_network(
    directory: str | os.PathLike, name: str = "converter", device: jax.Device | None = None
) -> tuple[int, TrainState, ml_collections.ConfigDict]:
    """(step, one network's state, its config) of the latest checkpoint, on one device.

    Reads only that network's files; the default device is the CPU, whatever hardware
    and device count the run was trained on.
    """
    if name not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {name!r}")
    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise CheckpointError(f"no checkpoint directory at {directory}: train first")
    with create_manager(directory) as manager:
        step = manager.latest_step()
        if step is None:
            raise CheckpointError(f"no complete checkpoint in {directory}: train first")
        config = saved_config(manager, step)
        device = device or jax.devices("cpu")[0]
        like = getattr(abstract_states(config, jax.sharding.SingleDeviceSharding(device)), name)
        restored = manager.restore(
            step, args=ocp.args.Composite(**{name: ocp.args.StandardRestore(like)})
        )
    return step, restored[name], config
