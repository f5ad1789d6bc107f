"""Times the full PLDT training step (Algorithm 1: both discriminator updates and the converter
update) in JAX: images/s, compile time, peak memory, FLOPs and how they compare to the chip.

Why: the step is the whole training cost once data is in memory, so its throughput, and the
fraction of the chip's matmul rate it reaches, say whether the JAX port uses the hardware well.
`torch_twin.py` times the same step in PyTorch, and shares this file's helpers.

The batch is random uint8 images put on the device once (waiting for data is not measured).
Every step is synchronised with `block_until_ready`; the figure is the median over --steps
steps after --warmup. FLOPs are XLA's cost analysis of the compiled step, which counts
elementwise ops too. The reference rate is a big `jnp.dot` timed in the same run: bfloat16 on
an accelerator, float32 on the CPU (labelled as such). Peak memory is the device's
`peak_bytes_in_use` where `memory_stats()` exists (GPU), else the process's peak RSS (CPU);
both are process high-water marks, so in a sweep each row includes the rows before it.

    python benchmarks/step_benchmark.py                      # Table 1 networks, batch 128, 64 px
    python benchmarks/step_benchmark.py --config configs/synthetic.py --strided-conv native,subpixel
    python benchmarks/step_benchmark.py --sweep --output sweep.json     # batch 32 ... 1024
    python benchmarks/step_benchmark.py --profile traces/   # + where the time goes, per XLA op
"""

import argparse
import functools
import importlib.util
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import flax
import jax
import jax.extend
import jax.numpy as jnp
import jaxlib
import ml_collections
import numpy as np
from tables import format_table
from xla_profile import format_profile, profile_ops

from pldt_jax import config as config_lib
from pldt_jax import sharding, train_step
from pldt_jax.layers import resolve_implementation

SWEEP_BATCHES = (32, 64, 128, 256, 512, 1024)
# The settings without the loss terms, layers, jitter and decay torch_twin.py does not
# implement (--as-twin).
TWIN_LACKS = {
    "loss": {
        "feature_matching_weight": 0.0,
        **{f"{name}_weight": 0.0 for name in config_lib.PIXEL_TERMS if name != "mse"},
        "mse_pool": 1,
        "candidates": "sampled",
    },
    "model": {
        "converter": "dcgan",
        "upsample": "transposed",
        "encoder_stage_convs": 0,
        "encoder_attention_heads": 0,
    },
    "dataset": {"flip": False, "max_shift": 0},
    "optimizer": {"weight_decay": 0.0},
}
IMAGE_KEYS = ("source", "target", "negative")


# Helpers shared with torch_twin.py.


def load_config(path: str | None) -> ml_collections.ConfigDict:
    """The experiment file's `get_config()` (e.g. configs/synthetic.py), else the paper's."""
    if path is None:
        return config_lib.default_config()
    spec = importlib.util.spec_from_file_location("experiment_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options both harnesses take; unset ones come from --config (default: the paper's)."""
    parser.add_argument("--config", help="experiment file, e.g. configs/synthetic.py")
    parser.add_argument("--width", type=float, help="filter multiplier (1.0 = Table 1)")
    parser.add_argument("--batch", type=int, help="global batch size")
    parser.add_argument(
        "--sweep",
        nargs="?",
        const=",".join(map(str, SWEEP_BATCHES)),
        help="comma-separated batch sizes instead of --batch (bare: 32,...,1024)",
    )
    parser.add_argument("--resolution", type=int, choices=(64, 128))
    parser.add_argument("--optimizer", choices=("sgd", "adam"))
    parser.add_argument(
        "--as-twin",
        action="store_true",
        help="only what the PyTorch twin has (terms, layers, candidates, jitter, decay): "
        + ", ".join(f"{group}.{key}" for group, keys in TWIN_LACKS.items() for key in sorted(keys)),
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--output", help="write the results as JSON here")


def configured(args: argparse.Namespace) -> ml_collections.ConfigDict:
    """--config with the command line's explicit settings applied."""
    config = load_config(args.config)
    for value, section, key in (
        (args.width, config.model, "width"),
        (args.batch, config, "batch_size"),
        (args.resolution, config, "resolution"),
        (args.optimizer, config.optimizer, "name"),
    ):
        if value is not None:
            section[key] = value
    if args.as_twin:
        for group, settings in TWIN_LACKS.items():
            config[group].update(settings)
    return config


def batch_sizes(args: argparse.Namespace, config: ml_collections.ConfigDict) -> list[int]:
    return [int(b) for b in args.sweep.split(",")] if args.sweep else [config.batch_size]


def split_list(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def step_seconds(
    run_step: Callable[[int], None], steps: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Wall and process CPU (all threads) seconds of each of `steps` synchronised calls, after
    `warmup` untimed ones. On a shared CPU, CPU time shows the work when wall time is queueing."""
    for i in range(warmup):
        run_step(i)
    wall, cpu = [], []
    for i in range(warmup, warmup + steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        run_step(i)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def timing_summary(wall: list[float], cpu: list[float], batch_size: int) -> dict[str, float]:
    seconds = statistics.median(wall)
    return {
        "step_ms_median": 1e3 * seconds,
        "step_ms_min": 1e3 * min(wall),
        "step_ms_max": 1e3 * max(wall),
        "cpu_ms_median": 1e3 * statistics.median(cpu),
        "images_per_s": batch_size / seconds,
    }


def rss_peak_bytes() -> int:
    """This process's peak resident set (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def environment() -> dict[str, Any]:
    """What a reader needs to judge a timing: host, cores, load, versions."""
    return {
        "host": platform.node(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": load_average(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def write_json(path: str | None, report: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")


# The JAX step.


def case_fields(config: ml_collections.ConfigDict, steps: int, warmup: int) -> dict[str, Any]:
    """What a result row says about the case it timed (both harnesses)."""
    return {
        "width": config.model.width,
        "batch": config.batch_size,
        "resolution": config.resolution,
        "optimizer": config.optimizer.name,
        "steps": steps,
        "warmup": warmup,
    }


def random_batch(batch_size: int, resolution: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (batch_size, resolution, resolution, 3)
    return {key: rng.integers(0, 256, shape, dtype=np.uint8) for key in IMAGE_KEYS}


def matmul_rate(dtype: jnp.dtype, size: int, repeats: int = 10) -> float:
    """FLOP/s of a jitted size x size `jnp.dot` in `dtype` (median of `repeats`)."""
    a, b = (jax.random.normal(jax.random.key(i), (size, size), dtype) for i in range(2))
    dot = jax.jit(jnp.dot)
    wall, _ = step_seconds(lambda _: dot(a, b).block_until_ready(), repeats, warmup=2)
    return 2 * size**3 / statistics.median(wall)


def matmul_reference(size: int | None = None) -> dict[str, Any]:
    """The chip's measured dense matmul rate, the reference for "fraction of peak": bfloat16
    8192² on an accelerator, float32 2048² on the CPU (labelled so); `size` overrides."""
    platform_name = jax.devices()[0].platform
    dtype = jnp.float32 if platform_name == "cpu" else jnp.bfloat16
    size = size or (2048 if platform_name == "cpu" else 8192)
    name = jnp.dtype(dtype).name
    return {
        "dtype": name,
        "size": size,
        "tflops": matmul_rate(dtype, size) / 1e12,
        "label": f"measured dense {name} matmul rate ({platform_name})",
    }


def fraction_of_matmul_rate(row: dict[str, Any], matmul: dict[str, Any]) -> float:
    """One device's achieved FLOP/s in a timed step over `matmul_reference`'s rate."""
    return row["flops_per_device"] / row["step_ms_median"] * 1e3 / (matmul["tflops"] * 1e12)


def jax_environment() -> dict[str, Any]:
    """`environment()` with the JAX side: versions, backend, device kind and count."""
    device = jax.devices()[0]
    return environment() | {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "backend": device.platform,
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        # Set, it turns compile_s into the time to load the compiled step from disk.
        "compilation_cache_dir": jax.config.jax_compilation_cache_dir,
    }


def peak_memory() -> tuple[int, str]:
    """(bytes, what they are): the device's peak where it reports one, else the host RSS peak."""
    stats = jax.devices()[0].memory_stats()
    if stats and "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"]), "device peak_bytes_in_use"
    return rss_peak_bytes(), "host RSS peak (whole process)"


def compile_step(
    config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh, states: train_step.States
) -> tuple[Any, dict[str, float]]:
    """The compiled step, with lowering and compile seconds and XLA's cost and memory analyses."""
    batch = random_batch(config.batch_size, config.resolution)
    start = time.perf_counter()
    lowered = train_step.sharded_train_step(config, mesh).lower(states, batch, jax.random.key(0))
    lowered_at = time.perf_counter()
    compiled = lowered.compile()
    done = time.perf_counter()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # A list of one in older JAX.
    # The cost analysis is of the program each device runs: its share of the batch.
    info = {
        "lower_s": lowered_at - start,
        "compile_s": done - lowered_at,
        "flops_per_device": float(cost["flops"]),
        "flops": float(cost["flops"]) * mesh.size,
        "transcendentals_per_device": float(cost.get("transcendentals", 0.0)),
    }
    memory = compiled.memory_analysis()
    if memory is not None:
        info["xla_temp_bytes"] = int(memory.temp_size_in_bytes)
        info["xla_argument_bytes"] = int(memory.argument_size_in_bytes)
    return compiled, info


def xla_flops(config: ml_collections.ConfigDict) -> float:
    """FLOPs of one step, all devices, by XLA's cost analysis, without running it."""
    mesh = sharding.create_mesh()
    states = jax.eval_shape(lambda key: train_step.create_states(config, key, 1), jax.random.key(0))
    states = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding.replicated(mesh)), states
    )
    return compile_step(config, mesh, states)[1]["flops"]


def _valid_taps(
    sizes: tuple[int, int, int], stride: int, pad: int, lhs_dil: int, rhs_dil: int
) -> int:
    """(output position, kernel tap) pairs of one spatial dim that meet an input element, not
    padding nor a hole of the input dilation, as XLA's cost analysis counts them."""
    in_size, taps, out_size = sizes
    return sum(
        (u := o * stride - pad + t * rhs_dil) % lhs_dil == 0 and 0 <= u // lhs_dil < in_size
        for o in range(out_size)
        for t in range(taps)
    )


def _eqn_flops(eqn: jax.extend.core.JaxprEqn) -> int:
    if eqn.primitive.name == "conv_general_dilated":
        (lhs, rhs), out = (v.aval.shape for v in eqn.invars), eqn.outvars[0].aval.shape
        spec, p = eqn.params["dimension_numbers"], eqn.params
        pairs = 1
        for i, (ld, rd, od) in enumerate(zip(*(x[2:] for x in spec), strict=True)):
            pairs *= _valid_taps(
                (lhs[ld], rhs[rd], out[od]),
                p["window_strides"][i],
                p["padding"][i][0],
                p["lhs_dilation"][i],
                p["rhs_dilation"][i],
            )
        return 2 * out[spec.out_spec[0]] * out[spec.out_spec[1]] * rhs[spec.rhs_spec[1]] * pairs
    if eqn.primitive.name == "dot_general":
        (contracting, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in contracting)
    return 0


def _jaxpr_flops(jaxpr: jax.extend.core.Jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        total += _eqn_flops(eqn)
        for param in eqn.params.values():
            for sub in param if isinstance(param, tuple | list) else (param,):
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    total += _jaxpr_flops(sub.jaxpr)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    total += _jaxpr_flops(sub)
    return total


def conv_dot_flops(config: ml_collections.ConfigDict) -> int:
    """FLOPs of the step's convolutions and matmuls alone, from its jaxpr, without padding taps.

    XLA's total minus this is the elementwise work (batch norm, activations, optimizer).
    """
    states = jax.eval_shape(lambda key: train_step.create_states(config, key, 1), jax.random.key(0))
    shape = (config.batch_size, config.resolution, config.resolution, 3)
    batch = {key: jax.ShapeDtypeStruct(shape, jnp.uint8) for key in IMAGE_KEYS}
    closed = jax.make_jaxpr(train_step.make_train_step(config))(states, batch, jax.random.key(0))
    return _jaxpr_flops(closed.jaxpr)


def benchmark_case(
    config: ml_collections.ConfigDict,
    steps: int,
    warmup: int,
    profile_dir: str | None = None,
    profile_steps: int = 3,
) -> dict[str, Any]:
    """Compiles and times one (strided_conv, batch) configuration of the step.

    With `profile_dir`, then traces `profile_steps` more steps into a subdirectory of it named
    after the case and adds the per-op breakdown (`xla_profile.profile_ops`) as 'profile'.
    """
    mesh = sharding.create_mesh()
    if config.batch_size % mesh.size:
        raise ValueError(f"batch {config.batch_size} does not split over {mesh.size} devices")
    load_before = load_average()
    # Initial weights from the 'rbg' generator: the same N(0, 0.02), but XLA's CPU backend
    # compiles it in a fraction of the time threefry takes. The step's own keys stay default.
    states = jax.jit(
        lambda key: train_step.create_states(config, key, warmup + steps),
        out_shardings=sharding.replicated(mesh),
    )(jax.random.key(config.seed, impl="rbg"))
    compiled, info = compile_step(config, mesh, states)
    batch = jax.device_put(
        random_batch(config.batch_size, config.resolution), sharding.batch_sharding(mesh)
    )
    keys = list(
        jax.device_put(
            jax.random.split(jax.random.key(1), warmup + steps), sharding.replicated(mesh)
        )
    )
    carry = [states]

    def run_step(i: int) -> None:
        carry[0], metrics = compiled(carry[0], batch, keys[i])
        jax.block_until_ready((carry[0], metrics))

    timings = timing_summary(*step_seconds(run_step, steps, warmup), config.batch_size)
    memory, memory_kind = peak_memory()
    implementation = resolve_implementation(config.model.strided_conv)
    profile = {}
    if profile_dir:
        name = f"{implementation}_{config.model.dtype}_batch{config.batch_size}"
        trace_dir = os.path.join(profile_dir, name)
        run = functools.partial(run_step, 0)
        try:
            profile = {"profile": profile_ops(run, profile_steps, trace_dir, compiled.as_text())}
        except Exception as error:  # No profiler on this machine: the timings still count.
            profile = {"profile_error": f"{type(error).__name__}: {error}"[:300]}
    return {
        "strided_conv": implementation,
        "dtype": config.model.dtype,
        **case_fields(config, steps, warmup),
        **timings,
        **info,
        "gflop_per_step": info["flops"] / 1e9,
        "conv_dot_gflop_per_step": conv_dot_flops(config) / 1e9,
        "achieved_tflops": info["flops"] / timings["step_ms_median"] / 1e9,
        "peak_memory_bytes": memory,
        "peak_memory_kind": memory_kind,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    } | profile


COLUMNS = (
    ("strided_conv", "strided_conv"),
    ("dtype", "dtype"),
    ("width", "width"),
    ("batch", "batch"),
    ("images_per_s", "images/s"),
    ("step_ms_median", "step ms (median)"),
    ("cpu_ms_median", "CPU ms"),
    ("compile_s", "compile s"),
    ("gflop_per_step", "GFLOP/step (XLA)"),
    ("conv_dot_gflop_per_step", "of which convs+dots"),
    ("achieved_tflops", "TFLOP/s"),
    ("fraction_of_matmul_rate", "of matmul rate (per device)"),
    ("peak_memory_mib", "peak MiB"),
    ("load", "load 1-min before/after"),
)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), help="compute dtype")
    parser.add_argument(
        "--strided-conv", help="comma-separated strided-conv implementations (native,subpixel,auto)"
    )
    parser.add_argument(
        "--matmul-size", type=int, help="reference dot size (default 8192; 2048 on the CPU)"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="also trace each case and print its largest XLA ops"
    )
    parser.add_argument("--profile-steps", type=int, default=3, help="traced steps per case")
    args = parser.parse_args(argv)

    config = configured(args)
    if args.dtype:
        config.model.dtype = args.dtype
    rows = []
    for strided_conv in split_list(args.strided_conv or config.model.strided_conv):
        for batch in batch_sizes(args, config):
            case = config.copy_and_resolve_references()
            case.model.strided_conv = strided_conv
            case.batch_size = batch
            rows.append(
                benchmark_case(case, args.steps, args.warmup, args.profile, args.profile_steps)
            )
            row = rows[-1]
            print(
                f"  {row['strided_conv']} batch {batch}: {row['images_per_s']:.1f} images/s "
                f"({row['step_ms_median']:.1f} ms), compile {row['compile_s']:.1f} s"
            )

    # After the steps, so that the device's peak memory is theirs.
    matmul = matmul_reference(args.matmul_size)
    for row in rows:
        row["fraction_of_matmul_rate"] = fraction_of_matmul_rate(row, matmul)
    device = jax.devices()[0]
    print(
        f"jax {jax.__version__} on {device.platform} ({device.device_kind}, {jax.device_count()} "
        f"device(s)); {matmul['label']}: {matmul['tflops']:.3g} TFLOP/s; "
        f"load average {load_average()}"
    )
    print()
    print(
        format_table(
            [
                row
                | {
                    "peak_memory_mib": row["peak_memory_bytes"] / 2**20,
                    "load": f"{row['load_average_before'][0]}/{row['load_average_after'][0]}",
                }
                for row in rows
            ],
            COLUMNS,
        )
    )
    print(f"peak memory: {rows[0]['peak_memory_kind']}; 'of matmul rate': {matmul['label']}")
    for row in rows:
        if "profile" in row:
            print(
                f"\n{row['strided_conv']} {row['dtype']} batch {row['batch']}, traced in "
                f"{row['profile']['trace_dir']}:"
            )
            print(format_profile(row["profile"]))
    report = {
        "harness": "jax",
        "environment": jax_environment(),
        "matmul_reference": matmul,
        "results": rows,
    }
    write_json(args.output, report)
    return report


if __name__ == "__main__":
    main()
