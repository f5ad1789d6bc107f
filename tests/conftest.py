"""Test-wide settings, also inherited by the subprocesses the tests start.

Two host CPU devices, so data-parallel code runs as on a multi-GPU box, and a
persistent compilation cache, so the same tiny step is compiled once per session.
"""

import os
import tempfile

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
).strip()
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="pldt_jax_xla_"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
