"""python -m pldt_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic

Trains (or resumes) the run described by the config in the work dir, then evaluates it.
"""

import sys
from collections.abc import Sequence

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from pldt_jax import errors, logs, train

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where checkpoints, logs and samples go.", required=True)
config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
flags.DEFINE_bool(
    "multihost",
    False,
    "Join JAX's multi-controller runtime (one process per host): TPU VM pods and SLURM "
    "are detected; elsewhere give the three flags below.",
)
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (with --multihost).")
flags.DEFINE_integer("num_processes", None, "How many processes (with --multihost).")
flags.DEFINE_integer("process_id", None, "This process's index (with --multihost).")
flags.mark_flags_as_required(["config"])


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, but an --config.<key> the config lacks is one line, not a traceback.

    ml_collections raises AttributeError (unknown setting) or KeyError (unknown group)
    from inside flag parsing, which absl only handles for bad values.
    """
    try:
        return app.parse_flags_with_usage(argv)
    except (AttributeError, KeyError) as error:
        # Its text is "'key'\nDid you mean ...?", wrapped in one more exception's repr.
        cause = error.args[0] if error.args else error
        text = cause.args[0] if isinstance(cause, KeyError) and cause.args else cause
        sys.exit(f"error: unknown config key {' '.join(str(text).split())}")


def main(argv: Sequence[str]) -> None:
    logs.quiet_library_logs()
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.multihost:
        jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    logging.info(
        "Process %d of %d; JAX devices: %s", jax.process_index(), jax.process_count(), jax.devices()
    )
    try:
        train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except train.TrainingInterrupted as stop:
        logging.warning("%s", stop)
        sys.exit(128 + stop.signum)
    except errors.Error as error:
        sys.exit(f"error: {error}")
    except OSError as error:
        # Unwritable work dir, full disk: earlier checkpoints are untouched (Orbax only
        # renames a checkpoint into place once it is complete).
        sys.exit(f"error: {error.strerror or error} ({error.filename or FLAGS.workdir})")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
