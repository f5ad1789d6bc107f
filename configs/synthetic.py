"""python -m pldt_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic

The embedded default: the small synthetic LookBook (built on first use, about 40 s),
the paper's C+RF+DD at 1/8 width, trained on the CPU. Adam at 1e-3 instead of SGD at
2e-4: the paper's rate needs its 16k steps, a CPU budget allows under a thousand.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.dataset.source = "synthetic_small"
    config.model.width = 0.125
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 1e-3
    config.batch_size = 32
    config.total_steps = 800
    config.log_every_steps = 50
    config.sample_every_steps = 200
    config.checkpoint_every_steps = 200
    return config
