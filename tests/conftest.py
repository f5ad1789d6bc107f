"""Test-wide settings, also inherited by the subprocesses the tests start.

Two host CPU devices, so data-parallel code runs as on a multi-GPU box, and a
persistent compilation cache, so the same tiny step is compiled once per session.
"""

import os
import tempfile
from pathlib import Path

import pytest

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
).strip()
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="pldt_jax_xla_"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A work dir trained for 2 steps at width 1/32 on the builder's dummy LookBook, for the
    commands that read a trained run (search, demo); no attribute judge, no validation."""
    from test_train import tiny_config

    from pldt_jax import train

    root = tmp_path_factory.mktemp("tiny_run")
    config = tiny_config(root / "tfds")
    config.attribute_classifier_steps = 0
    config.eval_every_steps = 0
    train.train_and_evaluate(config, str(root / "workdir"))
    return root / "workdir"
