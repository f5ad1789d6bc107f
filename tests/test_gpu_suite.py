"""benchmarks/gpu_suite.py: its smoke mode runs every part's code on the CPU and writes the
report; its real mode refuses to start without an accelerator; suite_report renders the JSON.

The smoke run is what makes the first GPU run safe: the same parts, processes and parsing, at
width 1/32 and batch 4 (the twin's parts are skipped where torch is not installed, as in CI).
"""

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SUITE = BENCHMARKS / "gpu_suite.py"
FILES = {
    "suite.json",
    "suite.md",
    "suite.log",
    "main_run_metrics.jsonl",
    "main_run_samples.png",
    "sample_photo.jpg",
    "sample_product.png",
}


@pytest.fixture(scope="module")
def suite_modules():
    sys.path.insert(0, str(BENCHMARKS))
    import gpu_suite
    import suite_report

    yield gpu_suite, suite_report
    sys.path.remove(str(BENCHMARKS))


def run_suite(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SUITE), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=os.environ | env,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    result = run_suite("--smoke", "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result, json.loads((out / "suite.json").read_text())


def test_smoke_runs_every_part(smoke, suite_modules):
    gpu_suite, _ = suite_modules
    _, _, report = smoke
    parts = report["parts"]
    assert set(parts) == set(gpu_suite.BUDGETS) | {"data", "sample"}
    has_torch = importlib.util.find_spec("torch") is not None
    for name, record in parts.items():
        expected = "skipped" if name.startswith("twin_") and not has_torch else "ok"
        assert record["status"] == expected, (name, record.get("error"))
    assert parts["matmul"]["rows"][0]["tflops"] > 0
    for name in gpu_suite.JAX_CASE_NAMES:
        (row,) = parts[name]["rows"]
        assert name == f"jax_{row['dtype']}_{row['strided_conv']}"
        assert (row["width"], row["batch"]) == (1 / 32, 4)
        for key in ("images_per_s", "compile_s", "peak_memory_bytes", "fraction_of_matmul_rate"):
            assert row[key] > 0, (name, key)
        assert row["profile"]["kind_share"]["convolution"] > 0
    assert [row["batch"] for row in parts["jax_sweep"]["rows"]] == list(gpu_suite.SMOKE.sweep)
    if has_torch:
        assert {row["mode"] for row in parts["twin_compile"]["rows"]} == {"compile"}


def test_smoke_trains_checkpoints_evaluates_and_samples(smoke, suite_modules):
    gpu_suite, _ = suite_modules
    out, _, report = smoke
    train, sample = report["parts"]["main_run"], report["parts"]["sample"]
    steps = gpu_suite.SMOKE.main_steps
    assert train["steps"] == steps and train["checkpoints"] == [steps]
    assert train["losses_finite"] and train["loop_images_per_s"] > 0
    # The first step (compiling) comes after the setup, and both within the run's time.
    assert 0 < train["setup_s"] < train["time_to_first_step_s"] < train["elapsed_s"]
    assert 0 < train["evaluation"]["cssim"] <= 1 and train["evaluation"]["step"] == steps
    assert sample["restored_step"] == steps and sample["product_shape"] == [64, 64, 3]
    assert {p.name for p in out.iterdir()} == FILES
    metrics = [
        json.loads(line) for line in (out / "main_run_metrics.jsonl").read_text().splitlines()
    ]
    assert metrics[-1]["step"] == steps
    summary = report["summary"]
    projection = 16_125 * 128 / train["loop_images_per_s"]
    assert math.isclose(summary["projected_paper_schedule_s"], projection)
    assert "projection" in summary["projection_note"]


def test_smoke_prints_and_writes_the_tables(smoke, suite_modules, capsys):
    _, suite_report = suite_modules
    out, result, report = smoke
    table = (out / "suite.md").read_text()
    assert table.strip() in result.stdout
    suite_report.main([str(out / "suite.json")])
    assert capsys.readouterr().out == table
    assert sum(p.stat().st_size for p in out.iterdir()) < 16 * 2**20
    fastest = report["summary"]["fastest_jax"]
    assert f"| {fastest['strided_conv']} | {fastest['dtype']} | 4 |" in table


def test_rerun_of_one_part_keeps_the_others(smoke, tmp_path):
    out, _, first = smoke
    previous = str(out / "suite.json")
    result = run_suite(
        "--smoke", "--out", str(tmp_path), "--parts", "matmul", "--previous", previous
    )
    result.check_returncode()
    report = json.loads((tmp_path / "suite.json").read_text())
    assert set(report["suite"]["budgets_s"]) == {"probe", "matmul"}
    assert set(report["parts"]) == set(first["parts"])
    assert report["parts"]["main_run"] == first["parts"]["main_run"]
    assert report["parts"]["matmul"]["elapsed_s"] != first["parts"]["matmul"]["elapsed_s"]


def test_real_mode_refuses_without_an_accelerator(tmp_path):
    result = run_suite("--out", str(tmp_path / "out"), JAX_PLATFORMS="cpu")
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error: no accelerator")
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_part_past_its_deadline_is_killed_with_its_children(suite_modules, tmp_path):
    gpu_suite, _ = suite_modules
    args = argparse.Namespace(smoke=True, budget=[], data_dir=None, out=tmp_path, previous=None)
    suite = gpu_suite.Suite(args, ["probe"])
    sleep = "import time; time.sleep(120)"
    parent = (
        "import subprocess, sys, time; "
        f"print(subprocess.Popen([sys.executable, '-c', {sleep!r}]).pid, flush=True); {sleep}"
    )
    try:
        record = suite.finish(
            suite.launch("sleeper", [sys.executable, "-c", parent], time.monotonic() + 3)
        )
    finally:
        shutil.rmtree(suite.work)
    assert record["status"] == "timed out" and 3 <= record["elapsed_s"] < 30
    child = Path(f"/proc/{int(record['log_text'].split()[0])}/stat")
    for _ in range(50):  # Killed, then gone or a zombie, once the kernel has delivered it.
        if not child.exists() or child.read_text().split(") ")[1][0] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the part's child process outlived it")


def test_budgets_fit_eight_minutes(suite_modules):
    """By design: the sequential budgets end within 8 minutes; the data is built before the
    training run's slot opens, and the sampling ends within the sweep's slot beside it."""
    gpu_suite, _ = suite_modules
    budgets = list(gpu_suite.BUDGETS)
    assert sum(gpu_suite.BUDGETS.values()) <= gpu_suite.TOTAL_S == 8 * 60
    before_training = sum(gpu_suite.BUDGETS[n] for n in budgets[: budgets.index("main_run")])
    assert before_training >= gpu_suite.DATA_BUDGET_S
    assert gpu_suite.BUDGETS["jax_sweep"] >= gpu_suite.SAMPLE_BUDGET_S


def test_summary_picks_the_fastest_of_each_side(suite_modules):
    _, suite_report = suite_modules

    def rows(*items):
        return {
            "status": "ok",
            "rows": [dict(zip(("images_per_s", *k), v, strict=True)) for k, v in items],
        }

    jax_keys, twin_keys = ("dtype", "strided_conv"), ("mode", "memory_format", "dtype")
    parts = {
        "probe": {"environment": {"backend": "gpu", "auto_implementation": {"gpu": "native"}}},
        "jax_float32_native": rows((jax_keys, (100.0, "float32", "native"))),
        "jax_bfloat16_subpixel": rows((jax_keys, (300.0, "bfloat16", "subpixel"))),
        "twin_eager": rows(
            (twin_keys, (150.0, "eager", "channels_last", "bfloat16")),
            (twin_keys, (180.0, "eager", "contiguous", "bfloat16")),
        ),
        "twin_compile": {"status": "timed out", "rows": []},
        "main_run": {"status": "ok", "loop_images_per_s": 16_125.0, "batch": 128},
    }
    summary = suite_report.summarize({"parts": parts})
    assert summary["fastest_jax"]["strided_conv"] == "subpixel"
    assert summary["jax_over_twin_eager"] == pytest.approx(300 / 180)
    assert summary["jax_over_twin_compile"] is None
    assert summary["projected_paper_schedule_s"] == pytest.approx(128.0)
    assert [t["met"] for t in summary["targets"]] == [True, None, None, True]
    auto = summary["auto_strided_conv"]
    assert auto["measured_fastest"] == "subpixel" and auto["agrees"] is False
    assert suite_report.best_format(parts["twin_eager"]["rows"], "bfloat16") == "contiguous"
    assert suite_report.best_format([], "float32") == "channels_last"
