"""python -m pldt_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic

The embedded default: the small synthetic LookBook (built on first use) and a
reduced-width converter that trains on 2 CPU cores in under 10 minutes.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.dataset.source = "synthetic_small"
    config.model.width = 0.125
    config.optimizer.name = "adam"
    config.batch_size = 64
    config.total_steps = 600
    config.log_every_steps = 25
    config.sample_every_steps = 200
    config.checkpoint_every_steps = 200
    return config
