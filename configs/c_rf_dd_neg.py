"""python -m pldt_jax.main --config=configs/c_rf_dd_neg.py --workdir=workdirs/c_rf_dd_neg

PLDT Table 2 "C+RF+DD-Neg": both discriminators, but the domain discriminator never
sees irrelevant products (its candidate is the associated product or the generated
image, half and half), everything else as configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "C+RF+DD-Neg"
    config.loss.use_negatives = False
    return config
