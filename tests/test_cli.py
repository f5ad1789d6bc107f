"""Every command ends a bad argument with one line on stderr and exit status 1, never a
traceback; the libraries' log lines that tell a user nothing are left out unless --verbosity=1.

The commands run as a user runs them, each in its own process, all at once."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from absl import logging as absl_logging

from pldt_jax import logs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    (root / "a_file").write_text("not a folder")
    (root / "empty").mkdir()
    (root / "run").mkdir()
    (root / "run" / "config.json").write_text('{"name": "C+RF+DD", "seed": 0}')
    return {"root": root, "file": root / "a_file", "empty": root / "empty", "run": root / "run"}


def cases(places: dict[str, Path]) -> dict[str, tuple[list[str], str]]:
    """Name -> (arguments of `python -m`, what the error line, the last, starts with)."""
    root, file, empty, run = places["root"], places["file"], places["empty"], places["run"]
    lookbook = ["--config=configs/lookbook.py", f"--workdir={root / 'new_run'}"]
    return {
        "main without --config": (
            ["pldt_jax.main", f"--workdir={root / 'new_run'}"],
            "error: flag --config=None: Flag --config must have a value other than None.",
        ),
        "main with a missing config file": (
            ["pldt_jax.main", "--config=configs/nosuch.py", f"--workdir={root / 'new_run'}"],
            "error: cannot load the config file configs/nosuch.py: [Errno 2] No such file",
        ),
        "main with an unexpected argument": (
            ["pldt_jax.main", *lookbook, "extra"],
            "error: unexpected arguments: extra",
        ),
        "main with an unknown config key": (
            ["pldt_jax.main", *lookbook, "--config.dataset.nosuch=1"],
            "error: unknown config key 'nosuch'",
        ),
        "main with a bad config value": (
            ["pldt_jax.main", *lookbook, "--config.batch_size=0"],
            "error: batch_size must be > 0, got 0",
        ),
        "prepare with an unknown source": (
            ["pldt_jax.prepare", "--config=configs/lookbook.py", "--config.dataset.source=nosuch"],
            "error: dataset.source must be one of ('real', ",
        ),
        "prepare without the archive": (
            [
                "pldt_jax.prepare",
                "--config=configs/lookbook.py",
                f"--config.dataset.manual_dir={empty}",
                f"--config.dataset.data_dir={root / 'data'}",
            ],
            # TFDS's first line, then the instructions (several lines, as the README shows).
            f"error: Manual directory {empty} does not exist or is empty.",
        ),
        "prepare with an unwritable data dir": (
            [
                "pldt_jax.prepare",
                "--config=configs/lookbook.py",
                f"--config.dataset.data_dir={file / 'data'}",
            ],
            "error: Not a directory",
        ),
        "evaluate without a checkpoint": (
            ["pldt_jax.evaluate", f"--workdir={empty}"],
            f"error: no checkpoint directory at {empty / 'checkpoints'}: train first",
        ),
        "evaluate a missing work dir": (
            ["pldt_jax.evaluate", f"--workdir={root / 'nosuch'}"],
            "error: no checkpoint directory at",
        ),
        "evaluate an unknown split": (
            ["pldt_jax.evaluate", f"--workdir={empty}", "--split=nosuch"],
            "error: flag --split=nosuch: value should be one of <train|validation|test>",
        ),
        "evaluate without --workdir": (
            ["pldt_jax.evaluate"],
            "error: flag --workdir=None: Flag --workdir must have a value other than None.",
        ),
        "sample a missing input": (
            ["pldt_jax.sample", f"--workdir={empty}", f"--input={root / 'nosuch.jpg'}"]
            + [f"--output={root / 'out.png'}"],
            f"error: no such file or folder: {root / 'nosuch.jpg'}",
        ),
        "report on a work dir without a run": (
            ["pldt_jax.report", "--workdirs", str(run), str(empty), "--output", str(root / "r")],
            f"error: {empty}: no run (no config.json, metrics.jsonl or eval/)",
        ),
        "report on a missing work dir": (
            ["pldt_jax.report", "--workdirs", str(root / "nosuch"), "--output", str(root / "r")],
            f"error: {root / 'nosuch'}: no such folder",
        ),
        "report into an unwritable output": (
            ["pldt_jax.report", "--workdirs", str(run), "--output", str(file / "report")],
            f"error: Not a directory ({file / 'report'})",
        ),
        "report without --output": (
            ["pldt_jax.report", "--workdirs", str(run)],
            "error: flag --output=None: Flag --output must have a value other than None.",
        ),
    }


def test_every_bad_argument_is_one_line_and_exit_status_1(places):
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", *arguments],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (arguments, _) in cases(places).items()
    }
    for name, process in started.items():
        _, stderr = process.communicate(timeout=300)
        expected = cases(places)[name][1]
        lines = stderr.strip().splitlines()
        assert process.returncode == 1, (name, stderr)
        assert "Traceback" not in stderr, (name, stderr)
        (error,) = [line for line in lines if line.startswith("error:")]
        assert error.startswith(expected), (name, stderr)
        if name == "prepare without the archive":
            assert "drive.google.com" in stderr, stderr
        else:
            assert lines[-1] == error, (name, stderr)
    assert not (places["root"] / "new_run").exists()  # Refused before anything was written.
    assert not (places["root"] / "r").exists()


def record(pathname: str, level: int) -> logging.LogRecord:
    return logging.LogRecord("any", level, pathname, 1, "message", None, None)


def test_library_logs_are_left_out_unless_verbose():
    handler = absl_logging.get_absl_handler()
    opencv = record("/site-packages/tensorflow_datasets/core/features/image_feature.py", 30)
    no_tpu = record("/site-packages/jax/_src/xla_bridge.py", logging.INFO)
    orbax_error = record("/site-packages/orbax/checkpoint/manager.py", logging.ERROR)
    ours = record(str(REPO / "pldt_jax" / "train.py"), logging.INFO)
    try:
        logs.quiet_library_logs(verbosity=0)
        assert [bool(handler.filter(r)) for r in (opencv, no_tpu, orbax_error, ours)] == [
            False,
            False,
            True,
            True,
        ]
        logs.quiet_library_logs(verbosity=1)
        assert all(handler.filter(r) for r in (opencv, no_tpu, orbax_error, ours))
    finally:
        logs.quiet_library_logs(verbosity=0)
