import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from pldt_jax import checkpoints, train_step
from pldt_jax.config import default_config


def test_save_restore_round_trip(tmp_path):
    config = default_config()
    config.model.width = 1 / 32
    states = train_step.create_states(config, jax.random.key(0), 10)
    states = states.replace(converter=states.converter.replace(step=jnp.asarray(7)))
    progress = {"data": {"epoch": 1, "step": 3}, "seed": 0}
    with checkpoints.create_manager(tmp_path / "ck") as manager:
        checkpoints.save(manager, 7, states, progress, config)
        manager.wait_until_finished()
        fresh = train_step.create_states(config, jax.random.key(1), 10)
        restored_step, restored, restored_progress = checkpoints.restore(manager, fresh)
    assert restored_step == 7 and restored_progress == progress
    for a, b in zip(jax.tree.leaves(states), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The converter alone, with the config it was saved with, on the CPU.
    converter_step, converter, saved = checkpoints.restore_network(tmp_path / "ck")
    assert converter_step == 7 and saved.model.width == 1 / 32
    assert jax.tree.leaves(converter.params)[0].devices() == {jax.devices("cpu")[0]}


def test_restore_without_checkpoint(tmp_path):
    with checkpoints.create_manager(tmp_path / "empty") as manager:
        assert checkpoints.restore(manager, None) is None
    with pytest.raises(checkpoints.CheckpointError, match="no complete checkpoint"):
        checkpoints.restore_network(tmp_path / "empty")
    with pytest.raises(checkpoints.CheckpointError, match="no checkpoint directory"):
        checkpoints.restore_network(tmp_path / "missing")


def saved_states(config, directory):
    """Fresh states of `config`, saved as the checkpoint of step 1 in `directory`."""
    states = train_step.create_states(config, jax.random.key(0), 10)
    with checkpoints.create_manager(directory) as manager:
        checkpoints.save(manager, 1, states, {}, config)
        manager.wait_until_finished()
    return states


def test_resuming_with_another_architecture_is_a_clear_error(tmp_path):
    config = default_config()
    config.model.width = 1 / 32
    states = saved_states(config, tmp_path / "ck")
    other = default_config()
    other.model.width = 1 / 16
    other.resolution = 128
    with checkpoints.create_manager(tmp_path / "ck") as manager:
        with pytest.raises(
            checkpoints.CheckpointError, match="resolution: checkpoint 64, config 128"
        ):
            checkpoints.restore(manager, states, other)
        narrower = default_config()
        narrower.model.width = 1 / 32
        narrower.model.discriminator_width = 1 / 64
        with pytest.raises(
            checkpoints.CheckpointError, match="model.discriminator_width: checkpoint 0.03125"
        ):
            checkpoints.restore(manager, states, narrower)
        assert checkpoints.restore(manager, states, config)[0] == 1
        # 0 stands for model.width: the same discriminators as the width spelled out.
        spelled_out = default_config()
        spelled_out.model.width = 1 / 32
        spelled_out.model.discriminator_width = 1 / 32
        assert checkpoints.restore(manager, states, spelled_out)[0] == 1


def test_resuming_with_weight_decay_switched_on_or_off_is_a_clear_error(tmp_path):
    config = default_config()
    config.model.width = 1 / 32
    states = saved_states(config, tmp_path / "plain")
    decayed = ml_collections.ConfigDict(config.to_dict())
    decayed.optimizer.weight_decay = 0.1
    with (
        checkpoints.create_manager(tmp_path / "plain") as manager,
        pytest.raises(
            checkpoints.CheckpointError,
            match=r"optimizer.weight_decay: checkpoint 0.0, config 0.1 \(on in one",
        ),
    ):
        checkpoints.restore(manager, states, decayed)
    decayed_states = saved_states(decayed, tmp_path / "decayed")
    stronger = ml_collections.ConfigDict(decayed.to_dict())
    stronger.optimizer.weight_decay = 1.0  # Another value, the same state: it resumes.
    with checkpoints.create_manager(tmp_path / "decayed") as manager:
        assert checkpoints.restore(manager, decayed_states, stronger)[0] == 1


def test_a_checkpoint_older_than_a_config_key_restores_with_its_default(tmp_path):
    """A run saved before `model.upsample` existed (its config lacks the key) is restored
    as what it was: Table 1's transposed convolutions."""
    config = default_config()
    config.model.width = 1 / 32
    states = train_step.create_states(config, jax.random.key(0), 10)
    older = config.to_dict()
    del older["model"]["upsample"]
    with checkpoints.create_manager(tmp_path / "ck") as manager:
        checkpoints.save(manager, 1, states, {}, ml_collections.ConfigDict(older))
        manager.wait_until_finished()
    _, converter, saved = checkpoints.restore_network(tmp_path / "ck")
    assert saved.model.upsample == "transposed" and saved.model.width == 1 / 32
    assert "UpConv_0" in converter.params["decoder"]
