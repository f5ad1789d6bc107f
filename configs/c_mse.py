"""python -m pldt_jax.main --config=configs/c_mse.py --workdir=workdirs/c_mse

PLDT Table 2 "C+MSE": the converter trained with the mean-square loss only (no
discriminator), everything else as configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "C+MSE"
    config.loss.real_fake_weight = 0.0
    config.loss.domain_weight = 0.0
    config.loss.mse_weight = 1.0
    return config
