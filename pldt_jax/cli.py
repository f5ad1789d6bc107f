"""What every command (main, prepare, evaluate, sample, report) shares: a bad argument ends with
one line on stderr and exit status 1, never a traceback, and the console stays quiet.

`run(main)` is `absl.app.run(main)` with flag errors (unknown or missing flags, bad values,
an --config.<key> the config lacks, a config file that does not load) and unexpected
arguments told in one line, every `errors.Error` and `OSError` (an unwritable output, a full
disk) printed as `error: <message>`, and the library log lines that say nothing to a user left
out unless `--verbosity=1` (`logs.quiet_library_logs`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from absl import app, flags
from ml_collections import config_flags

from pldt_jax import errors, logs


def fail(message: str) -> NoReturn:
    """Ends the command: `error: <message>` on stderr, exit status 1."""
    sys.exit(f"error: {message}")


def _one_line(text: str) -> str:
    """The first line of a message and, when it goes on, its last (a traceback's error)."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return " ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else ""


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, with every problem of the command line in one line.

    ml_collections raises AttributeError (unknown setting) or KeyError (unknown group) for an
    --config.<key> the config lacks, from inside flag parsing, which absl only handles for bad
    values; and it reports a config file that cannot be read only when the config is used.
    """
    try:
        arguments = flags.FLAGS(argv)
    except flags.Error as error:
        fail(_one_line(str(error)))
    except (AttributeError, KeyError) as error:
        # Its text is "'key'\nDid you mean ...?", wrapped in one more exception's repr.
        cause = error.args[0] if error.args else error
        text = cause.args[0] if isinstance(cause, KeyError) and cause.args else cause
        fail(f"unknown config key {' '.join(str(text).split())}")
    if "config" in flags.FLAGS and flags.FLAGS["config"].value is not None:
        try:
            flags.FLAGS.config.keys()  # A config file that failed to load raises here.
        except OSError as error:
            path = config_flags.get_config_filename(flags.FLAGS["config"])
            last_line = str(error).strip().splitlines()[-1].strip()
            fail(f"cannot load the config file {path}: {last_line}")
    return arguments


def run(
    main: Callable[[Sequence[str]], None],
    *,
    takes_arguments: bool = False,
    path_flag: str | None = None,
) -> None:
    """Runs `main(argv)` as a command. `takes_arguments`: positional arguments are allowed
    (else they are an error); `path_flag`: the flag whose path an `OSError` without a file
    name is about (e.g. the work dir)."""

    def command(argv: Sequence[str]) -> None:
        logs.quiet_library_logs(flags.FLAGS.verbosity)
        if len(argv) > 1 and not takes_arguments:
            fail(f"unexpected arguments: {' '.join(argv[1:])}")
        try:
            main(argv)
        except errors.Error as error:
            fail(str(error))
        except OSError as error:
            path = error.filename or (flags.FLAGS[path_flag].value if path_flag else None)
            fail(f"{error.strerror or error}" + (f" ({path})" if path else ""))

    app.run(command, flags_parser=parse_flags)
