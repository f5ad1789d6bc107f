"""Never lose a run: kill -9 or SIGTERM, rerun, and reach bit for bit the parameters of a
run that was never interrupted; non-finite steps stop the run or are skipped."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from pldt_jax import checkpoints, step, train
from pldt_jax.config import default_config
from pldt_jax_datasets.lookbook import lookbook_dataset_builder as lookbook

DUMMY_DATA = Path(lookbook.__file__).parent / "dummy_data"
TOTAL_STEPS = 10


def overrides(data_dir: Path, **changes) -> dict:
    values = {
        "dataset.manual_dir": str(DUMMY_DATA),
        "dataset.data_dir": str(data_dir),
        "model.width": 1 / 32,
        "optimizer.name": "adam",
        "batch_size": 4,
        "total_steps": TOTAL_STEPS,
        "log_every_steps": 1,
        "sample_every_steps": 100,
        "checkpoint_every_steps": 1,
        "max_checkpoints_to_keep": 2,
        "num_sample_images": 4,
        "eval_batch_size": 8,
        "attribute_classifier_steps": 0,
    }
    return values | changes


def make_config(values: dict):
    config = default_config()
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


def command(workdir: Path, values: dict) -> list[str]:
    flags = [f"--config.{key}={value}" for key, value in values.items()]
    return [
        sys.executable,
        "-m",
        "pldt_jax.main",
        "--config=configs/lookbook.py",
        f"--workdir={workdir}",
        *flags,
    ]


def final_states(workdir: Path, config) -> step.States:
    like = step.create_states(config, jax.random.key(0), TOTAL_STEPS)
    with checkpoints.create_manager(workdir / "checkpoints") as manager:
        found, states, _ = checkpoints.restore(manager, like)
    assert found == TOTAL_STEPS
    return states


def assert_bitwise_equal(a: step.States, b: step.States) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"finished before {path} appeared: {process.stderr.read()}")
        if time.time() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear in {timeout} s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, in this process."""
    root = tmp_path_factory.mktemp("resume")
    values = overrides(root / "tfds")
    config = make_config(values)
    train.train_and_evaluate(config, str(root / "uninterrupted"))
    return root, values, final_states(root / "uninterrupted", config)


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_interrupted_run_resumes_bit_for_bit(reference, how):
    root, values, expected = reference
    workdir = root / how.replace(" ", "")
    args = command(workdir, values)
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(workdir / "checkpoints" / "3", process)
        if how == "kill -9":
            process.kill()
        else:
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    if how == "SIGTERM":
        assert process.returncode == 128 + signal.SIGTERM, stderr
        assert "SIGTERM at step" in stderr and "rerun the same command" in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    with checkpoints.create_manager(workdir / "checkpoints") as manager:
        stopped_at = manager.latest_step()
    assert 3 <= stopped_at < TOTAL_STEPS, "the run was not interrupted mid-way"

    subprocess.run(args, check=True, capture_output=True, timeout=300)
    logged = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["step"] == TOTAL_STEPS
    assert_bitwise_equal(final_states(workdir, make_config(values)), expected)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(reference):
    root, values, _ = reference
    workdir = root / "diverges"
    # SGD with an absurd rate overflows the parameters in the first update.
    config = make_config(values | {"optimizer.name": "sgd", "optimizer.learning_rate": 1e38})
    with pytest.raises(train.NonFiniteError, match="at step 1 .*Last good checkpoint: none yet"):
        train.train_and_evaluate(config, str(workdir))
    with checkpoints.create_manager(workdir / "checkpoints") as manager:
        assert manager.latest_step() is None


def test_skip_mode_skips_and_counts_non_finite_steps(reference):
    root, values, _ = reference
    workdir = root / "skips"
    changes = {
        "optimizer.name": "sgd",
        "optimizer.learning_rate": 1e38,
        "skip_nonfinite_steps": True,
        "total_steps": 2,
    }
    config = make_config(values | changes)
    train.train_and_evaluate(config, str(workdir))
    logged = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [entry["skipped_steps"] for entry in logged] == [1, 2]
    like = step.create_states(config, jax.random.key(0), 2)
    with checkpoints.create_manager(workdir / "checkpoints") as manager:
        _, states, _ = checkpoints.restore(manager, like)
    init_key = jax.random.split(jax.random.key(config.seed))[0]
    init = jax.jit(lambda key: step.create_states(config, key, 2))(init_key)  # As train.py.
    assert_bitwise_equal(states, init)  # Every step was skipped: nothing changed.
