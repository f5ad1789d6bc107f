"""The train step under JAX's multi-controller runtime: two processes, one global batch.

Each process of a jax.distributed job (on the CPU, over 127.0.0.1) reads only its
own rows of every batch; the parameters must come out as with one process reading
the whole batch. The processes run tests/multiprocess_worker.py.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("multiprocess_worker.py")
TIMEOUT_S = 240  # For a whole job; each process spends about 25 s of CPU compiling.
ATOL = 1e-5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_device_per_process_env() -> dict[str, str]:
    """The environment for a job's processes: one CPU device each, not the two that conftest
    forces for in-process tests."""
    xla_flags = [
        flag
        for flag in os.environ.get("XLA_FLAGS", "").split()
        if not flag.startswith("--xla_force_host_platform_device_count")
    ]
    return os.environ | {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": " ".join(xla_flags)}


def run_job(num_processes: int, output: Path) -> dict[str, np.ndarray]:
    """Starts every process of the job, waits for all, and returns process 0's parameters."""
    env = one_device_per_process_env()
    port = free_port()
    logs = [output.with_suffix(f".{i}.log") for i in range(num_processes)]
    processes = []
    try:
        for i, log in enumerate(logs):
            with open(log, "w") as log_file:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            str(WORKER),
                            str(port),
                            str(num_processes),
                            str(i),
                            output,
                        ],
                        env=env,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + TIMEOUT_S
        for process in processes:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, f"{log}:\n{log.read_text()[-3000:]}"
    with np.load(output) as params:
        return dict(params)


def test_two_processes_reach_the_parameters_of_one(tmp_path):
    single = run_job(1, tmp_path / "one.npz")
    double = run_job(2, tmp_path / "two.npz")
    assert single.keys() == double.keys()
    for key, value in single.items():
        np.testing.assert_allclose(double[key], value, rtol=0, atol=ATOL, err_msg=key)
    # Batch norm offsets start at zero: the steps moved them far beyond the tolerance.
    offsets = [v for k, v in single.items() if "/params/" in k and k.endswith("BatchNorm_0/bias")]
    assert offsets and min(np.abs(v).max() for v in offsets) > 10 * ATOL
