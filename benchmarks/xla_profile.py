"""Where a compiled XLA program's time goes: per-op totals from a `jax.profiler` trace.

Why: "the step is slow" is only actionable once it is known which kernels take the time.
`profile_ops` traces a few runs of a compiled program, sums the time of every XLA op (events
carrying an `hlo_op` stat: kernels on a GPU or TPU, thunks on the CPU), and names each op's kind
from the program's HLO (convolution, matmul, copy/transpose, other), so that the largest kernels
and each kind's share can be read off. The trace itself stays in the directory for TensorBoard
or Perfetto. Used by `step_benchmark.py --profile DIR`.
"""

import collections
import glob
import os
import re
from collections.abc import Callable
from typing import Any

import jax

KINDS = ("convolution", "matmul", "copy/transpose", "other")
_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+) ([\w\-]+)\((.*)$")
_CALLS = re.compile(r"(?:calls|to_apply)=%?([\w.\-]+)")
_WINDOW = re.compile(r"window=\{size=(\S+)")


def describe_ops(hlo_text: str) -> dict[str, tuple[str, str]]:
    """(kind, detail) of every instruction of an HLO module, looking inside what it calls.

    The detail is the output type, and a convolution's window: a kernel gradient shows as a
    window as large as the activations.
    """
    bodies: dict[str, list[str]] = {}
    current = None
    for line in hlo_text.splitlines():
        if (match := _COMPUTATION.match(line)) is not None:
            current = match.group(1)
            bodies[current] = []
        elif line.startswith("}"):
            current = None
        elif current is not None:
            bodies[current].append(line)

    described = {}
    for lines in bodies.values():
        for line in lines:
            if (match := _INSTRUCTION.match(line)) is None:
                continue
            name, shape, op = match.group(1, 2, 3)
            called = "\n".join("\n".join(bodies.get(c, ())) for c in _CALLS.findall(line))
            text, target, detail = f"{line}\n{called}", _custom_call(line), shape.split("{")[0]
            if op == "convolution" or " convolution(" in text or "conv" in target:
                window = _WINDOW.search(text)
                described[name] = (
                    "convolution",
                    detail + (f" window {window[1]}" if window else ""),
                )
            elif op == "dot" or " dot(" in text or re.search("gemm|matmul", target):
                described[name] = ("matmul", detail)
            elif op in ("copy", "transpose") or re.search("copy|transpose", name):
                described[name] = ("copy/transpose", detail)
            else:
                described[name] = ("other", detail)
    return described


def _custom_call(line: str) -> str:
    match = re.search(r'custom_call_target="([^"]*)"', line)
    return match.group(1).lower() if match else ""


def _op_times(trace_dir: str) -> dict[str, float]:
    """Seconds per `hlo_op` in the newest trace under `trace_dir`; device planes when present."""
    paths = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise FileNotFoundError(f"No *.xplane.pb trace under {trace_dir}.")
    data = jax.profiler.ProfileData.from_file(max(paths, key=os.path.getmtime))
    per_plane: dict[str, collections.Counter] = {}
    for plane in data.planes:
        times: collections.Counter = collections.Counter()
        for line in plane.lines:
            for event in line.events:
                op = dict(event.stats).get("hlo_op")
                if op is not None:
                    times[op] += event.duration_ns * 1e-9
        if times:
            per_plane[plane.name] = times
    device = [times for name, times in per_plane.items() if name.startswith("/device:")]
    chosen = device or list(per_plane.values())
    return dict(sum(chosen, collections.Counter()))


def profile_ops(
    run: Callable[[], None], runs: int, trace_dir: str, hlo_text: str, top: int = 10
) -> dict[str, Any]:
    """Traces `runs` calls of `run` (each synchronised) into `trace_dir` and sums them per op.

    Returns the op time per run (summed over the threads or streams that ran ops at once, so on
    a multi-core CPU it can exceed the wall time), each kind's share of it, and the `top` ops.
    """
    with jax.profiler.trace(trace_dir):
        for _ in range(runs):
            run()
    times = _op_times(trace_dir)
    described = describe_ops(hlo_text)
    # An op the HLO text does not name (none seen so far) counts as 'other'.
    kinds = {op: described.get(op, ("other", "")) for op in times}
    total = sum(times.values())
    if total == 0:
        raise ValueError(f"The trace in {trace_dir} holds no XLA op events.")
    by_kind = collections.Counter()
    for op, seconds in times.items():
        by_kind[kinds[op][0]] += seconds
    largest = sorted(times.items(), key=lambda item: -item[1])[:top]
    return {
        "trace_dir": trace_dir,
        "runs": runs,
        "op_ms_per_run": 1e3 * total / runs,
        "kind_share": {kind: by_kind[kind] / total for kind in KINDS},
        "top_ops": [
            {
                "op": op,
                "kind": kinds[op][0],
                "detail": kinds[op][1],
                "ms_per_run": 1e3 * seconds / runs,
                "share": seconds / total,
            }
            for op, seconds in largest
        ],
    }


def format_profile(profile: dict[str, Any]) -> str:
    """The kinds' shares on one line, then the largest ops, one a line."""
    shares = ", ".join(f"{kind} {share:.1%}" for kind, share in profile["kind_share"].items())
    lines = [f"op time {profile['op_ms_per_run']:.2f} ms per step: {shares}"]
    lines += [
        f"  {op['share']:6.1%} {op['ms_per_run']:8.3f} ms  {op['kind']:<14} {op['op']:<26} "
        f"{op['detail']}"
        for op in profile["top_ops"]
    ]
    return "\n".join(lines)
