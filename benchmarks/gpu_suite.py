"""Every accelerator figure of the project in one command that fits a short GPU loan.

Why: a GPU (one H100 or H200) is lent to this project rarely, for about 15 minutes with its
start-up, one command at most 10. So the whole GPU side is this one command, which finishes
in at most 8 minutes by design, compiles included, and `--smoke` runs the same code paths on
the CPU at tiny sizes (a test does, in CI), so that the first GPU run cannot die of a typo.

Each part is a subprocess with a time budget (`BUDGETS`, seconds). A part may use what the
parts before it left of theirs, but ends by the sum of the budgets so far, killed with its
processes if need be; one that fails or is killed is recorded as such, with the rows it
finished, and the rest still runs. Parts, in order: probe (backend, versions), matmul (dense
bf16 rate), the JAX step at float32/bfloat16 x native/subpixel (`step_benchmark.py`, each also
traced: `xla_profile.py`), main_run (`pldt_jax.main` on the synthetic small LookBook, generated
meanwhile by the data part; then `pldt_jax.sample` on the CPU from its checkpoint, beside the
next part), jax_sweep (the fastest case at larger batches), twin_eager (both memory formats
and precisions), twin_compile (torch.compile in each precision's better format), twin_sweep.

DIR receives suite.json (rewritten after each part), suite.md (the tables, also printed),
suite.log (every part's output) and the main run's metrics.jsonl, sample grid, and the photo and
product of the CPU sampling; `suite_report.py DIR/suite.json` prints the tables again.

    python benchmarks/gpu_suite.py --out gpu_suite       # on the GPU machine: docs/performance.md
    python benchmarks/gpu_suite.py --smoke --out /tmp/smoke
    python benchmarks/gpu_suite.py --out again --previous gpu_suite/suite.json \
        --parts twin_compile --budget twin_compile=200   # redo a part, keep the others' figures
"""

import argparse
import contextlib
import dataclasses
import datetime
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import suite_main_run as main_run
import suite_report
from suite_report import JAX_CASE_NAMES, JAX_CASES

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
# Seconds per sequential part on the GPU, in running order: 475 in all, within the 8 minutes
# (docs/performance.md says how they were sized).
BUDGETS = {
    "probe": 10,
    "matmul": 15,
    **dict.fromkeys(JAX_CASE_NAMES, 42),
    "main_run": 72,
    "jax_sweep": 50,
    "twin_eager": 30,
    "twin_compile": 90,
    "twin_sweep": 40,
}
TOTAL_S = 480
# Beside the sequential parts: the data is built from the start and must be ready by main_run
# (the probe, matmul and JAX parts take up to 193 s); the sampling runs beside jax_sweep.
DATA_BUDGET_S, SAMPLE_BUDGET_S = 170, 40
SMOKE_BUDGET_S = 300  # Per part in smoke mode: it checks the code paths, not the time.
LOG_TAIL_BYTES = 200_000  # Of each part's output in suite.log.


@dataclasses.dataclass(frozen=True)
class Sizes:
    width: float
    batch: int
    steps: int
    warmup: int
    sweep: tuple[int, ...]  # Batches beyond `batch` for the fastest configurations.
    matmul_size: int | None  # None: step_benchmark's (8192 on a GPU).
    main_steps: int
    main_log_every: int
    torch_threads: int | None


REAL = Sizes(1.0, 128, 30, 5, (512, 1024), None, 300, 50, None)
SMOKE = Sizes(1 / 32, 4, 2, 1, (8,), 256, 4, 2, 1)


class Suite:
    """The parts' records, the processes that make them, and the files they go to."""

    def __init__(self, args: argparse.Namespace, parts: list[str]) -> None:
        self.smoke, self.parts = args.smoke, parts
        self.sizes = SMOKE if args.smoke else REAL
        self.budgets = {name: SMOKE_BUDGET_S if args.smoke else BUDGETS[name] for name in parts}
        self.budgets |= dict(args.budget)
        self.work = Path(tempfile.mkdtemp(prefix="pldt_gpu_suite_"))
        self.data_dir = Path(args.data_dir) if args.data_dir else self.work / "tfds"
        self.out = Path(args.out)
        self.report: dict[str, Any] = {"parts": {}}
        if args.previous:
            self.report["parts"] = json.loads(Path(args.previous).read_text())["parts"]
        self.report["suite"] = {
            "mode": "smoke" if args.smoke else "gpu",
            "sizes": dataclasses.asdict(self.sizes),
            "budgets_s": self.budgets,
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        self.start = time.monotonic()
        self.spent = 0.0  # Sum of the budgets of the sequential parts so far.
        self.recorded: list[str] = []  # The parts of this run, those of --previous not.
        self.running: dict[str, subprocess.Popen] = {}  # Launched, not yet finished.
        self.extra_path = self._datasets_path()

    def _datasets_path(self) -> list[str]:
        """Where `pldt_jax_datasets` (the tree's datasets/) imports from, when not installed."""
        if importlib.util.find_spec("pldt_jax_datasets") is not None:
            return []
        (self.work / "path").mkdir()
        (self.work / "path" / "pldt_jax_datasets").symlink_to(REPO / "datasets")
        return [str(self.work / "path")]

    def env(self, **extra: str) -> dict[str, str]:
        path = [*self.extra_path, str(REPO), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
        return env | {"PYTHONUNBUFFERED": "1"} | extra

    def budget(self, name: str) -> int | None:
        """A part's own budget: BUDGETS or --budget, or that of a part beside the others."""
        beside = {"data": DATA_BUDGET_S, "sample": SAMPLE_BUDGET_S}.get(name)
        return self.budgets.get(name) or (SMOKE_BUDGET_S if self.smoke else beside)

    def deadline(self, name: str) -> float:
        """The part may run until the sum of the budgets up to it (and the suite's total)."""
        self.spent += self.budgets[name]
        end = self.spent if self.smoke else min(self.spent, TOTAL_S)
        return self.start + end

    def launch(self, name: str, command: list[str], deadline: float, **env: str) -> dict:
        """Starts a part's process in a session of its own, output to its log file."""
        log = open(self.work / f"{name}.log", "w")  # noqa: SIM115 (closed by finish)
        launched, started = datetime.datetime.now(), time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running = {
            "name": name,
            "process": process,
            "log": log,
            "deadline": deadline,
            "started": started,
            "launched": launched,
        }
        # Notes when it ends: a part beside others is collected later than that.
        running["waiter"] = threading.Thread(target=_note_end, args=(running,), daemon=True)
        running["waiter"].start()
        self.running[name] = process
        return running

    def finish(self, running: dict) -> dict[str, Any]:
        """Waits for a launched part until its deadline (then kills its process group)."""
        process, waiter = running["process"], running["waiter"]
        waiter.join(timeout=max(0.0, running["deadline"] - time.monotonic()))
        status = "timed out" if waiter.is_alive() else "ok"
        _kill_group(self.running.pop(running["name"]))  # Its leftovers too (compile workers).
        waiter.join()
        running["log"].close()
        text = (self.work / f"{running['name']}.log").read_text(errors="replace")
        if status == "ok" and process.returncode != 0:
            status = "failed"
        record = {
            "status": status,
            "returncode": process.returncode,
            "elapsed_s": running["ended"] - running["started"],
            "budget_s": self.budget(running["name"]),
            # Its budget and what the parts before it left of theirs.
            "allowed_s": running["deadline"] - running["started"],
        }
        if status != "ok":
            lines = [line for line in text.splitlines() if line.strip()]
            record["error"] = lines[-1][:300] if lines else "(no output)"
        return record | {"log_text": text}

    def record(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        """Keeps a part's record (its output in suite.log) and rewrites the report."""
        text = record.pop("log_text", None)
        if text is not None:
            with open(self.out / "suite.log", "a") as log:
                log.write(f"\n===== {name}: {record['status']} in {record['elapsed_s']:.1f} s\n")
                log.write(text[-LOG_TAIL_BYTES:])
        self.report["parts"][name] = record
        self.recorded.append(name)
        elapsed = time.monotonic() - self.start
        note = f": {record['error']}" if "error" in record else ""
        print(f"[{elapsed:5.0f} s] {name}: {record['status']}{note}", flush=True)
        self.write()
        return record

    def skip(self, name: str, reason: str) -> None:
        self.deadline(name)
        self.record(name, {"status": "skipped", "error": reason})

    def measure(self, name: str, part: str, spec: dict[str, Any], **env: str) -> dict[str, Any]:
        """A `suite_parts.py` part in its own process, recorded with the rows it wrote."""
        return self.record(name, self.run_part(name, part, spec, **env))

    def run_part(self, name: str, part: str, spec: dict[str, Any], **env: str) -> dict[str, Any]:
        result = self.work / f"{name}.json"
        command = [sys.executable, str(BENCHMARKS / "suite_parts.py"), part, json.dumps(spec)]
        record = self.finish(self.launch(name, [*command, str(result)], self.deadline(name), **env))
        if result.exists():
            record |= json.loads(result.read_text())
        return record

    def write(self) -> None:
        self.report["summary"] = suite_report.summarize(self.report)
        (self.out / "suite.json").write_text(json.dumps(self.report, indent=1) + "\n")
        (self.out / "suite.md").write_text(suite_report.render(self.report) + "\n")

    def spec(self, **fields: Any) -> dict[str, Any]:
        s = self.sizes
        return {"width": s.width, "steps": s.steps, "warmup": s.warmup} | fields

    def run(self) -> int:
        """Every selected part in order; 0 when all ran, 1 when one failed or was cut short."""
        parts = self.report["parts"]
        data = None
        if "main_run" in self.parts:
            command = main_run.prepare_command(self.smoke, self.data_dir)
            data_end = self.start + self.budget("data")
            data = self.launch("data", command, data_end, JAX_PLATFORMS="cpu")
        if "matmul" in self.parts:
            self.measure("matmul", "matmul", {"matmul_size": self.sizes.matmul_size})
        matmul = (parts.get("matmul", {}).get("rows") or [None])[0]
        for name, (dtype, strided_conv) in zip(JAX_CASE_NAMES, JAX_CASES, strict=True):
            if name in self.parts:
                spec = self.spec(batches=[self.sizes.batch], dtype=dtype, matmul=matmul)
                spec |= {"strided_conv": strided_conv, "profile_dir": str(self.work / "traces")}
                self.measure(name, "jax_step", spec)
        best = suite_report.best(suite_report.jax_case_rows(parts)) or {}
        sample = None
        if "main_run" in self.parts:
            sample = self.train(
                data, best.get("dtype", "float32"), best.get("strided_conv", "auto")
            )
        if "jax_sweep" in self.parts:
            config = {"dtype": best.get("dtype", "float32")}
            config["strided_conv"] = best.get("strided_conv", "auto")
            spec = self.spec(batches=list(self.sizes.sweep), matmul=matmul, **config)
            self.measure("jax_sweep", "jax_step", spec)
        if sample is not None:
            record = self.finish(sample)
            if record["status"] == "ok":
                record |= self.sample_results()
            self.record("sample", record)
        self.twin()
        self.report["suite"]["wall_s"] = time.monotonic() - self.start
        self.write()
        print(suite_report.render(self.report))
        statuses = [parts[name]["status"] for name in self.recorded]
        return 1 if set(statuses) - {"ok", "skipped"} else 0

    def train(self, data: dict, dtype: str, strided_conv: str) -> dict | None:
        """The data part's end, then the training run; returns the sampling, launched."""
        self.record("data", self.finish(data))
        if self.report["parts"]["data"]["status"] != "ok":
            self.skip("main_run", "the data part did not finish")
            return None
        workdir = self.work / "main_run"
        command = main_run.train_command(
            self.smoke, self.data_dir, workdir, self.sizes, dtype, strided_conv
        )
        running = self.launch("main_run", command, self.deadline("main_run"))
        record = self.finish(running)
        if record["status"] == "ok":
            try:
                launched = running["launched"]
                record |= main_run.train_results(workdir, record["log_text"], launched, self.sizes)
                shutil.copy(workdir / "metrics.jsonl", self.out / "main_run_metrics.jsonl")
                grid = workdir / "samples" / f"step_{self.sizes.main_steps}.png"
                shutil.copy(grid, self.out / "main_run_samples.png")
                photo = self.out / "sample_photo.jpg"
                main_run.extract_photo(self.smoke, self.data_dir, photo)
            except (OSError, ValueError, KeyError, StopIteration) as error:
                record |= {"status": "failed", "error": f"unreadable results: {error!r}"}
        self.record("main_run", record | {"dtype": dtype, "strided_conv": strided_conv})
        if record["status"] != "ok":
            return None
        command = main_run.sample_command(workdir, photo, self.out / "sample_product.png")
        end = time.monotonic() + self.budget("sample")
        return self.launch("sample", command, end, JAX_PLATFORMS="cpu")

    def sample_results(self) -> dict[str, Any]:
        text = (self.work / "sample.log").read_text(errors="replace")
        try:
            return main_run.sample_results(text, self.out / "sample_product.png")
        except OSError as error:
            return {"status": "failed", "error": f"no product image: {error}"}

    def twin(self) -> None:
        """The PyTorch parts: eager in both formats, compiled in each precision's better one,
        then the fastest at larger batches. torch stays off JAX's GPU memory: JAX_PLATFORMS."""
        names = [n for n in ("twin_eager", "twin_compile", "twin_sweep") if n in self.parts]
        if not self.report["parts"]["probe"]["environment"]["modules"]["torch"]:
            for name in names:
                self.skip(name, "torch is not installed")
            return
        parts, dtypes = self.report["parts"], ("float32", "bfloat16")
        spec = self.spec(batches=[self.sizes.batch], threads=self.sizes.torch_threads)
        if "twin_eager" in names:
            formats = ("channels_last", "contiguous")
            variants = [variant("eager", f, d) for d in dtypes for f in formats]
            self.measure("twin_eager", "twin", spec | {"variants": variants}, JAX_PLATFORMS="cpu")
        if "twin_compile" in names:
            eager = suite_report.ok_rows(parts, "twin_eager")
            variants = [variant("compile", suite_report.best_format(eager, d), d) for d in dtypes]
            spec_c = spec | {"variants": variants}
            self.measure("twin_compile", "twin", spec_c, JAX_PLATFORMS="cpu")
        if "twin_sweep" in names:
            best = suite_report.best(suite_report.twin_rows(parts)) or {}
            fastest = variant(
                best.get("mode", "eager"),
                best.get("memory_format", "channels_last"),
                best.get("dtype", "float32"),
            )
            spec_s = spec | {"batches": list(self.sizes.sweep), "variants": [fastest]}
            self.measure("twin_sweep", "twin", spec_s, JAX_PLATFORMS="cpu")


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _stop(signum: int, _: Any) -> None:
    """SIGTERM (`timeout`, the device tool) ends the suite as an error, so its parts die too."""
    sys.exit(128 + signum)


def _note_end(running: dict[str, Any]) -> None:
    running["process"].wait()
    running["ended"] = time.monotonic()


def variant(mode: str, memory_format: str, dtype: str) -> dict[str, str]:
    """A `torch_twin.TwinStep` setting."""
    return {"mode": mode, "memory_format": memory_format, "dtype": dtype}


def parse_budget(text: str) -> tuple[str, int]:
    name, _, seconds = text.partition("=")
    if name not in BUDGETS or not seconds.isdigit():
        raise argparse.ArgumentTypeError(f"expected PART=SECONDS with PART in {list(BUDGETS)}")
    return name, int(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="directory for the JSON, tables and logs")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (CI)")
    parser.add_argument("--parts", help=f"comma-separated subset of {','.join(BUDGETS)}")
    parser.add_argument(
        "--budget",
        type=parse_budget,
        action="append",
        default=[],
        metavar="PART=SECONDS",
        help="another budget for a part",
    )
    parser.add_argument("--previous", help="a suite.json whose parts are kept unless rerun")
    parser.add_argument("--data-dir", help="TFDS data dir to build in or reuse (default: fresh)")
    args = parser.parse_args(argv)
    parts = ["probe", *(args.parts.split(",") if args.parts else BUDGETS)]
    if unknown := set(parts) - set(BUDGETS):
        parser.error(f"unknown parts {sorted(unknown)}; expected some of {list(BUDGETS)}")
    suite = Suite(args, list(dict.fromkeys(parts)))
    signal.signal(signal.SIGTERM, _stop)
    try:
        probe = suite.run_part("probe", "probe", {}, XLA_PYTHON_CLIENT_PREALLOCATE="false")
        backend = probe.get("environment", {}).get("backend")
        if backend is None:
            sys.exit(f"error: the probe of the machine failed: {probe.get('error')}")
        if backend == "cpu" and not args.smoke:
            sys.exit(
                "error: no accelerator: JAX's backend here is the CPU; the suite measures a GPU "
                "(--smoke checks its code paths on the CPU)"
            )
        suite.out.mkdir(parents=True, exist_ok=True)
        (suite.out / "suite.log").write_text("")
        suite.record("probe", probe)
        return suite.run()
    finally:
        for process in suite.running.values():  # Each part is a session of its own.
            _kill_group(process)
        shutil.rmtree(suite.work, ignore_errors=True)  # Data, work dir, traces: all temporary.


if __name__ == "__main__":
    sys.exit(main())
