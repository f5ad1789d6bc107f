"""python -m pldt_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic

Trains (or resumes) the run described by the config in the work dir, then evaluates it.
"""

import sys
from collections.abc import Sequence

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from pldt_jax import logs, prepare, train

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where checkpoints, logs and samples go.", required=True)
config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
flags.mark_flags_as_required(["config"])


def main(argv: Sequence[str]) -> None:
    logs.quiet_library_logs()
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.info("JAX devices: %s", jax.devices())
    try:
        train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except train.TrainingInterrupted as stop:
        logging.warning("%s", stop)
        sys.exit(128 + stop.signum)
    except (
        prepare.DatasetMissingError,
        prepare.LookBookArchiveError,
        train.NonFiniteError,
    ) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    app.run(main)
