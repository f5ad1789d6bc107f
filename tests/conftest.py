"""Two host CPU devices for every test, so data-parallel code runs as on a multi-GPU box."""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
).strip()
