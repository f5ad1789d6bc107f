"""python -m pldt_jax.main --config=configs/ipt_only_a.py --workdir=workdirs/ipt_only_a

Follow-up paper (image-product-transformation.txt, Table 1) "Only A (association)":
association discriminator only. Its association discriminator sees only (photo, own
product) and (photo, generated) pairs, so no irrelevant products here; otherwise the
PLDT setup of configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "Only A (association)"
    config.loss.use_negatives = False
    config.loss.real_fake_weight = 0.0
    config.loss.domain_weight = 1.0
    return config
