"""python -m pldt_jax.main --config=configs/ipt_only_d.py --workdir=workdirs/ipt_only_d

Follow-up paper (image-product-transformation.txt, Table 1) "Only D (real/fake)":
real/fake discriminator only. Its association discriminator sees only (photo, own
product) and (photo, generated) pairs, so no irrelevant products here; otherwise the
PLDT setup of configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "Only D (real/fake)"
    config.loss.use_negatives = False
    config.loss.real_fake_weight = 1.0
    config.loss.domain_weight = 0.0
    return config
