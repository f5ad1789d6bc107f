"""The measuring parts of `gpu_suite.py`, one process each: `python suite_parts.py PART SPEC OUT`.

Why a process each: the suite ends a part that hangs, runs out of memory or takes the runtime
down without losing the others, and a JAX part's peak device memory is its own (JAX reports a
process high-water mark). SPEC is the part's JSON settings; the part writes what it measured to
the JSON file OUT after every row, so a part stopped at its time budget keeps the rows it
finished. The measurements themselves are `step_benchmark.py`'s and `torch_twin.py`'s.
"""

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# What the suite's parts import beyond the GPU machines' image (benchmarks/gpu_wheels.sh).
MODULES = ("ml_collections", "tensorflow_datasets", "array_record", "tensorboardX", "torch")
VERSIONS = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "torch")


class Results:
    """The part's environment and rows, rewritten to `path` whenever they change."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.environment: dict[str, Any] = {}
        self.rows: list[dict[str, Any]] = []

    def set_environment(self, environment: dict[str, Any]) -> None:
        self.environment = environment
        self.write()

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.write()

    def write(self) -> None:
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"environment": self.environment, "rows": self.rows}))
        os.replace(partial, self.path)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _gpu_description() -> str | None:
    """nvidia-smi's name, driver and memory of each GPU, where the tool exists."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = "--query-gpu=name,driver_version,memory.total,clocks.max.sm"
    done = subprocess.run(
        ["nvidia-smi", query, "--format=csv,noheader"], capture_output=True, text=True, timeout=20
    )
    return done.stdout.strip() or None


def probe(spec: dict[str, Any], results: Results) -> None:
    """What the machine is, with nothing but JAX started: the backend decides whether the suite
    runs at all, and the modules whether its wheels were installed."""
    import jax

    from pldt_jax.layers import AUTO_IMPLEMENTATION

    device = jax.devices()[0]
    results.set_environment(
        {
            "backend": device.platform,
            "device_kind": device.device_kind,
            "device_count": jax.device_count(),
            "nvidia_smi": _gpu_description(),
            "python": sys.version.split()[0],
            "versions": {name: _version(name) for name in VERSIONS},
            "modules": {name: importlib.util.find_spec(name) is not None for name in MODULES},
            "auto_implementation": dict(AUTO_IMPLEMENTATION),
        }
    )


def matmul(spec: dict[str, Any], results: Results) -> None:
    from step_benchmark import jax_environment, matmul_reference

    results.set_environment(jax_environment())
    results.add(matmul_reference(spec.get("matmul_size")))


def jax_step(spec: dict[str, Any], results: Results) -> None:
    """`step_benchmark.benchmark_case` per batch size of one (dtype, strided_conv) configuration,
    traced into spec['profile_dir'] when given; with the matmul part's rate, the fraction of it."""
    from step_benchmark import benchmark_case, fraction_of_matmul_rate, jax_environment

    from pldt_jax import config as config_lib

    results.set_environment(jax_environment())
    for batch in spec["batches"]:
        config = config_lib.default_config()
        config.model.width = spec["width"]
        config.model.dtype = spec["dtype"]
        config.model.strided_conv = spec["strided_conv"]
        config.batch_size = batch
        row = benchmark_case(config, spec["steps"], spec["warmup"], spec.get("profile_dir"))
        if spec.get("matmul"):
            row["fraction_of_matmul_rate"] = fraction_of_matmul_rate(row, spec["matmul"])
        results.add(row)


def twin(spec: dict[str, Any], results: Results) -> None:
    """`torch_twin.benchmark_variant` per batch size and (mode, memory format, dtype) variant.

    torch.compile's caches are cleared before each variant, so that each compiles afresh for
    its own shapes and precision (a second batch size would otherwise switch to a dynamic one).
    """
    import torch
    from torch_twin import benchmark_variant, count_flops, select_device, torch_environment

    from pldt_jax import config as config_lib

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    device = select_device()
    results.set_environment(torch_environment(device))
    for batch in spec["batches"]:
        config = config_lib.default_config()
        config.model.width = spec["width"]
        config.batch_size = batch
        flops = count_flops(config, device)["flops"]
        for variant in spec["variants"]:
            torch._dynamo.reset()
            results.add(
                benchmark_variant(config, device, variant, spec["steps"], spec["warmup"], flops)
            )


PARTS: dict[str, Callable[[dict[str, Any], Results], None]] = {
    "probe": probe,
    "matmul": matmul,
    "jax_step": jax_step,
    "twin": twin,
}


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[0] not in PARTS:
        sys.exit(f"usage: suite_parts.py {{{','.join(PARTS)}}} SPEC_JSON OUT_JSON")
    name, spec, out = argv
    PARTS[name](json.loads(spec), Results(out))


if __name__ == "__main__":
    main(sys.argv[1:])
