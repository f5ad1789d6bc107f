"""The GPU suite's JSON as the tables of docs/performance.md: `python suite_report.py suite.json`.

Why a program: the figures are pasted from the run's own file, never retyped. `summarize`
picks the fastest configuration of each side, the ratios and the targets of issue 15, the
projection of the paper's schedule and what `strided_conv='auto'` should stand for on the GPU;
`gpu_suite.py` stores it in the JSON and prints `render`'s tables. Imports nothing heavy.
"""

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tables import format_table

JAX_CASES = [(d, s) for d in ("float32", "bfloat16") for s in ("native", "subpixel")]
JAX_CASE_NAMES = [f"jax_{dtype}_{strided_conv}" for dtype, strided_conv in JAX_CASES]
PAPER_STEPS, PAPER_BATCH = 16_125, 128  # The paper's 30 epochs of LookBook at batch 128.
MIB = 2**20


def ok_rows(parts: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The timed rows of a part, those of a part cut short included (they were finished)."""
    rows = parts.get(name, {}).get("rows", [])
    return [row for row in rows if "error" not in row and row.get("images_per_s")]


def jax_case_rows(parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for name in JAX_CASE_NAMES for row in ok_rows(parts, name)]


def twin_rows(parts: dict[str, Any]) -> list[dict[str, Any]]:
    return ok_rows(parts, "twin_eager") + ok_rows(parts, "twin_compile")


def best(rows: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    return max(rows, key=lambda row: row["images_per_s"], default=None)


def best_format(rows: list[dict[str, Any]], dtype: str) -> str:
    """The twin's faster memory format in `dtype`; channels_last unless contiguous measured
    faster."""
    fastest = best(row for row in rows if row["dtype"] == dtype)
    return fastest["memory_format"] if fastest else "channels_last"


def _ratio(a: dict | None, b: dict | None) -> float | None:
    return a["images_per_s"] / b["images_per_s"] if a and b else None


def _target(text: str, measured: float | None, goal: float, higher: bool = True) -> dict:
    met = None if measured is None else (measured >= goal if higher else measured <= goal)
    return {"target": text, "measured": measured, "goal": goal, "met": met}


def auto_choice(parts: dict[str, Any], fastest: dict | None) -> dict[str, Any]:
    """Each implementation's images/s per precision, the fastest case's implementation, and
    the entry of `layers.AUTO_IMPLEMENTATION` the probe read for this backend."""
    environment = parts.get("probe", {}).get("environment", {})
    table = environment.get("auto_implementation", {})
    rows = jax_case_rows(parts)
    per_dtype = {
        dtype: {row["strided_conv"]: row["images_per_s"] for row in rows if row["dtype"] == dtype}
        for dtype in dict.fromkeys(dtype for dtype, _ in JAX_CASES)
    }
    measured = fastest["strided_conv"] if fastest else None
    current = table.get(environment.get("backend"), "native")
    return {
        "images_per_s": per_dtype,
        "measured_fastest": measured,
        "auto_implementation": current,
        "agrees": None if measured is None else measured == current,
    }


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """The fastest of each side, their ratios, the projection, 'auto' and the targets."""
    parts = report["parts"]
    fastest = best(jax_case_rows(parts))
    eager = best(ok_rows(parts, "twin_eager"))
    compiled = best(ok_rows(parts, "twin_compile"))
    train = parts.get("main_run", {})
    loop = train.get("loop_images_per_s") if train.get("status") == "ok" else None
    projection = PAPER_STEPS * PAPER_BATCH / loop if loop else None
    return {
        "fastest_jax": _config(fastest),
        "fastest_twin_eager": _config(eager),
        "fastest_twin_compile": _config(compiled),
        "jax_over_twin_eager": _ratio(fastest, eager),
        "jax_over_twin_compile": _ratio(fastest, compiled),
        "projected_paper_schedule_s": projection,
        "projection_note": f"projection: {PAPER_STEPS:,} steps of {PAPER_BATCH} at the loop's "
        f"measured rate at batch {train.get('batch', PAPER_BATCH)}, not a timed run",
        "auto_strided_conv": auto_choice(parts, fastest),
        "targets": [
            _target("JAX >= 1.5x the twin eager (each its best)", _ratio(fastest, eager), 1.5),
            _target("JAX >= 1.1x the twin torch.compile", _ratio(fastest, compiled), 1.1),
            _target(
                ">= 40 % of the measured dense matmul rate",
                fastest.get("fraction_of_matmul_rate") if fastest else None,
                0.4,
            ),
            _target("paper's schedule projected under 180 s", projection, 180.0, higher=False),
        ],
    }


def _config(row: dict | None) -> dict[str, Any] | None:
    keys = ("strided_conv", "mode", "memory_format", "dtype", "batch", "images_per_s")
    return {key: row[key] for key in keys if key in row} if row else None


def _mib(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row | {"peak_mib": row.get("peak_memory_bytes", 0) / MIB or None} for row in rows]


def _rows(parts: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    """Every row of the parts, those with an error too (the tables show it)."""
    return [row for name in names for row in parts.get(name, {}).get("rows", [])]


PART_COLUMNS = (
    ("part", "part"),
    ("status", "status"),
    ("elapsed_s", "s"),
    ("budget_s", "budget s"),
    ("allowed_s", "allowed s"),
    ("error", "error"),
)
JAX_COLUMNS = (
    ("strided_conv", "strided_conv"),
    ("dtype", "dtype"),
    ("batch", "batch"),
    ("images_per_s", "images/s"),
    ("step_ms_median", "step ms (median)"),
    ("compile_s", "compile s"),
    ("peak_mib", "peak MiB"),
    ("gflop_per_step", "GFLOP/step (XLA)"),
    ("achieved_tflops", "TFLOP/s"),
    ("fraction_of_matmul_rate", "of matmul rate"),
)
TWIN_COLUMNS = (
    ("mode", "mode"),
    ("memory_format", "memory format"),
    ("dtype", "dtype"),
    ("batch", "batch"),
    ("images_per_s", "images/s"),
    ("step_ms_median", "step ms (median)"),
    ("first_step_s", "first step s"),
    ("peak_mib", "peak MiB"),
    ("achieved_tflops", "TFLOP/s (FlopCounter)"),
    ("error", "error"),
)
SWEEP_COLUMNS = (
    ("side", "side"),
    ("config", "configuration"),
    ("batch", "batch"),
    ("images_per_s", "images/s"),
    ("step_ms_median", "step ms"),
    ("peak_mib", "peak MiB"),
)
SHARE_COLUMNS = (("kind", "kind"), ("share", "share of op time"))
OP_COLUMNS = (
    ("share", "share"),
    ("ms_per_run", "ms/step"),
    ("kind", "kind"),
    ("op", "op"),
    ("detail", "output, window"),
)
TRAIN_COLUMNS = (
    ("config", "dtype, strided_conv"),
    ("steps", "steps"),
    ("loop_images_per_s", "loop images/s (median)"),
    ("windows", "per window after the first"),
    ("time_to_first_step_s", "time to first step s"),
    ("setup_s", "of which before the loop s"),
    ("batches_on_device", "data on device"),
    ("losses_finite", "losses finite"),
    ("checkpoint", "checkpoint"),
    ("cssim", "test C-SSIM"),
    ("rmse", "test RMSE"),
    ("sample", "pldt_jax.sample on the CPU"),
    ("status", "status"),
    ("error", "error"),
)
TARGET_COLUMNS = (("target", "target"), ("measured", "measured"), ("goal", "goal"), ("met", "met"))


def _environment(report: dict[str, Any]) -> str:
    parts, suite = report["parts"], report["suite"]
    probe = parts.get("probe", {}).get("environment", {})
    software = ", ".join(f"{name} {v}" for name, v in probe.get("versions", {}).items() if v)
    matmul = (parts.get("matmul", {}).get("rows") or [None])[0]
    rate = (
        f"{matmul['label']}: {matmul['tflops']:.4g} TFLOP/s ({matmul['size']}²)"
        if matmul
        else "no matmul rate"
    )
    return (
        f"Suite ({suite['mode']} mode, started {suite['started']}, {suite.get('wall_s', 0):.0f} s):"
        f" {probe.get('nvidia_smi') or probe.get('device_kind')}, {probe.get('device_count')} "
        f"device(s); Python {probe.get('python')}; {software}. {rate}."
    )


def _sweep(parts: dict[str, Any]) -> list[dict[str, Any]]:
    """The fastest configuration of each side at the suite's batch, then at the sweep's."""
    rows = [
        row | {"side": side}
        for side, fastest, name in (
            ("JAX", best(jax_case_rows(parts)), "jax_sweep"),
            ("twin", best(twin_rows(parts)), "twin_sweep"),
        )
        for row in ([fastest] if fastest else []) + _rows(parts, name)
    ]
    keys = ("strided_conv", "mode", "memory_format", "dtype")
    return [row | {"config": ", ".join(str(row[k]) for k in keys if k in row)} for row in rows]


def _profile(row: dict[str, Any] | None) -> list[str]:
    if row is None:
        return ["No JAX case finished."]
    profile = row.get("profile")
    if not profile:
        return [f"No profile: {row.get('profile_error', 'not traced')}."]
    shares = [{"kind": kind, "share": f"{v:.1%}"} for kind, v in profile["kind_share"].items()]
    top = [op | {"share": f"{op['share']:.1%}"} for op in profile["top_ops"]]
    return [
        f"{row['strided_conv']} {row['dtype']} batch {row['batch']}: op time "
        f"{profile['op_ms_per_run']:.3g} ms per step.",
        format_table(shares, SHARE_COLUMNS),
        format_table(top, OP_COLUMNS),
    ]


def _train_rows(parts: dict[str, Any]) -> list[dict[str, Any]]:
    train, sample = parts.get("main_run", {}), parts.get("sample", {})
    if train.get("status") != "ok":
        return [{"status": train.get("status", "not run"), "error": train.get("error")}]
    return [
        train
        | {
            "config": f"{train['dtype']}, {train['strided_conv']}",
            "checkpoint": train["checkpoints"][-1] if train["checkpoints"] else None,
            "windows": ", ".join(f"{v:.0f}" for v in train["loop_images_per_s_windows"]),
            "cssim": train["evaluation"].get("cssim"),
            "rmse": train["evaluation"].get("rmse"),
            "sample": f"{sample.get('status', 'not run')}: step {sample.get('restored_step')}"
            f" -> {sample.get('product_shape')}",
        }
    ]


def _conclusions(summary: dict[str, Any]) -> list[str]:
    projection, auto = summary["projected_paper_schedule_s"], summary["auto_strided_conv"]
    change = "" if auto["agrees"] in (None, True) else ": change AUTO_IMPLEMENTATION"
    return [
        f"The paper's schedule: {projection:.0f} s ({summary['projection_note']})."
        if projection
        else "The paper's schedule: no loop rate, no projection.",
        f"strided_conv='auto' on this backend is {auto['auto_implementation']!r} "
        f"(layers.AUTO_IMPLEMENTATION); measured fastest: {auto['measured_fastest']!r}{change}. "
        f"Images/s per precision: {json.dumps(auto['images_per_s'])}.",
    ]


def render(report: dict[str, Any]) -> str:
    """Markdown: machine, parts, JAX step, twin, batch sweep, profile, loop, targets, auto."""
    parts = report["parts"]
    summary = report.get("summary") or summarize(report)
    sections = [
        [_environment(report)],
        [format_table([{"part": n} | r for n, r in parts.items()], PART_COLUMNS)],
        [
            "JAX training step (`step_benchmark.benchmark_case`):",
            format_table(_mib(_rows(parts, *JAX_CASE_NAMES)), JAX_COLUMNS),
        ],
        [
            "PyTorch twin (`torch_twin.benchmark_variant`):",
            format_table(_mib(_rows(parts, "twin_eager", "twin_compile")), TWIN_COLUMNS),
        ],
        [
            "Images/s against batch size, the fastest configuration of each side:",
            format_table(_mib(_sweep(parts)), SWEEP_COLUMNS),
        ],
        [
            "Where the fastest JAX case's time goes (`xla_profile.py`):",
            *_profile(best(jax_case_rows(parts))),
        ],
        [
            "The training loop (`python -m pldt_jax.main`):",
            format_table(_train_rows(parts), TRAIN_COLUMNS),
        ],
        [format_table(summary["targets"], TARGET_COLUMNS)],
        _conclusions(summary),
    ]
    return "\n\n".join(item for section in sections for item in section)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite_json", help="the suite.json that gpu_suite.py wrote")
    args = parser.parse_args(argv)
    print(render(json.loads(Path(args.suite_json).read_text())))


if __name__ == "__main__":
    main()
