"""python -m pldt_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic

Trains (or resumes) the run described by the config in the work dir, then evaluates it.
"""

import sys
from collections.abc import Sequence

import jax
from absl import flags, logging
from ml_collections import config_flags

from pldt_jax import cli, train

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


def main(argv: Sequence[str]) -> None:
    del argv  # No positional arguments (cli.run refuses them).
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


def run() -> None:
    """The command: `main` with every bad argument, unwritable work dir or full disk one line
    (earlier checkpoints are untouched: Orbax only renames a checkpoint into place once it is
    complete)."""
    cli.run(main, path_flag="workdir")


if __name__ == "__main__":
    run()
