"""Never lose a run: kill -9 or SIGTERM, rerun, and reach bit for bit the parameters of a
run that was never interrupted; non-finite steps stop the run or are skipped."""

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from test_multiprocess import free_port, one_device_per_process_env

from pldt_jax import checkpoints, train, train_step
from pldt_jax.config import default_config
from pldt_jax_datasets import lookbook

DUMMY_DATA = Path(lookbook.__file__).parent / "dummy_data"
FAULTY_SAVE_WORKER = Path(__file__).with_name("faulty_save_worker.py")
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
        "eval_every_steps": 0,  # The periodic validation is test_train's.
        # Batches gathered on the device (test_train covers the host's): resumed exactly too.
        "dataset.on_device": "on",
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


def final_states(workdir: Path, config) -> train_step.States:
    like = train_step.create_states(config, jax.random.key(0), TOTAL_STEPS)
    with checkpoints.create_manager(workdir / "checkpoints") as manager:
        found, states, _ = checkpoints.restore(manager, like)
    assert found == TOTAL_STEPS
    return states


def assert_bitwise_equal(a: train_step.States, b: train_step.States) -> None:
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


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM", "SIGINT"])
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
            process.send_signal(getattr(signal, how))
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    if how != "kill -9":
        assert process.returncode == 128 + getattr(signal, how), stderr
        assert f"{how} at step" in stderr and "rerun the same command" in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    with checkpoints.create_manager(workdir / "checkpoints") as manager:
        stopped_at = manager.latest_step()
    assert 3 <= stopped_at < TOTAL_STEPS, "the run was not interrupted mid-way"

    subprocess.run(args, check=True, capture_output=True, timeout=300)
    logged = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["step"] == TOTAL_STEPS
    assert_bitwise_equal(final_states(workdir, make_config(values)), expected)


def sabotaged_save_command(workdir: Path, values: dict, mode: str, marker: Path) -> list[str]:
    """The same run, with the save of checkpoint 5 hanging or failing (faulty_save_worker.py)."""
    main_args = command(workdir, values)[3:]
    return [sys.executable, str(FAULTY_SAVE_WORKER), mode, "5", str(marker), "--", *main_args]


def latest_complete_step(workdir: Path) -> int | None:
    with checkpoints.create_manager(workdir / "checkpoints") as manager:
        return manager.latest_step()


def test_second_training_refused_then_kill_during_a_save_keeps_the_last_checkpoint(reference):
    """A run stuck in the save of checkpoint 5 holds its work dir: the same command started
    again refuses in one line and leaves it alone. Killed with kill -9 halfway through the
    save, it keeps checkpoint 4, and the rerun (the work dir free again) resumes from it."""
    root, values, expected = reference
    workdir, marker = root / "killed_in_save", root / "save_started"
    process = subprocess.Popen(
        sabotaged_save_command(workdir, values, "hang", marker), stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(marker, process)
        second = subprocess.run(
            command(workdir, values), capture_output=True, text=True, timeout=300
        )
        assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr
        assert second.stderr.strip().splitlines()[-1] == (
            f"error: {workdir} is in use by another training (process {process.pid} on "
            f"{socket.gethostname()}); wait until it ends, or give another --workdir"
        )
        assert process.poll() is None  # The first run goes on (here: stays in its save).
        process.kill()
        process.communicate(timeout=60)
    finally:
        process.kill()
    # Killed with checkpoint 5 half written: only its temporary directory exists.
    partial = [p.name for p in (workdir / "checkpoints").iterdir() if p.name.startswith("5")]
    assert partial and "5" not in partial, partial
    assert latest_complete_step(workdir) == 4

    subprocess.run(command(workdir, values), check=True, capture_output=True, timeout=300)
    assert_bitwise_equal(final_states(workdir, make_config(values)), expected)


def test_full_disk_fails_clearly_and_keeps_earlier_checkpoints(reference):
    root, values, expected = reference
    workdir, marker = root / "disk_full", root / "disk_full_marker"
    failed = subprocess.run(
        sabotaged_save_command(workdir, values, "enospc", marker),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert marker.exists()
    assert failed.returncode == 1
    last_line = failed.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: No space left on device"), failed.stderr[-2000:]
    assert latest_complete_step(workdir) == 4

    # Space freed, the same command goes on from checkpoint 4 to the uninterrupted result.
    subprocess.run(command(workdir, values), check=True, capture_output=True, timeout=300)
    assert_bitwise_equal(final_states(workdir, make_config(values)), expected)


def test_sigterm_to_one_of_two_processes_stops_both_at_the_same_step(reference):
    """A preempted host of a multi-host job: every process saves the same step and exits."""
    root, values, _ = reference
    workdir = root / "two_processes"
    port, env = free_port(), one_device_per_process_env()
    processes = [
        subprocess.Popen(
            command(workdir, values | {"total_steps": 1000, "dataset.on_device": "auto"})
            + ["--multihost", f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
            + [f"--process_id={i}"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        wait_for(workdir / "checkpoints" / "3", processes[0])
        processes[1].send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=120)[1] for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, stderr in zip(processes, outputs, strict=True):
        assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    stopped = [re.search(r"SIGTERM at step (\d+)", stderr) for stderr in outputs]
    assert all(stopped), outputs[0][-3000:]
    assert stopped[0][1] == stopped[1][1]
    assert latest_complete_step(workdir) == int(stopped[0][1]) < 1000


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
    like = train_step.create_states(config, jax.random.key(0), 2)
    with checkpoints.create_manager(workdir / "checkpoints") as manager:
        _, states, _ = checkpoints.restore(manager, like)
    init_key = jax.random.split(jax.random.key(config.seed))[0]
    init = jax.jit(lambda key: train_step.create_states(config, key, 2))(init_key)  # As train.py.
    assert_bitwise_equal(states, init)  # Every step was skipped: nothing changed.
