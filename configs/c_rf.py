"""python -m pldt_jax.main --config=configs/c_rf.py --workdir=workdirs/c_rf

PLDT Table 2 "C+RF": the converter trained with the real/fake discriminator only,
everything else as configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "C+RF"
    config.loss.real_fake_weight = 1.0
    config.loss.domain_weight = 0.0
    return config
