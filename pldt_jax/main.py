"""python -m pldt_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic

Trains (or resumes) the run described by the config in the work dir, then evaluates it.
"""

from collections.abc import Sequence

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from pldt_jax import train

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where checkpoints, logs and samples go.", required=True)
config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
flags.mark_flags_as_required(["config"])


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.info("JAX devices: %s", jax.devices())
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
