"""python -m pldt_jax.main --config=configs/ipt_adam.py --workdir=workdirs/ipt_adam

Follow-up paper (image-product-transformation.txt, Table 1) "A + D (Adam)": both
discriminators, Adam (beta1 0.5). Its association discriminator sees only (photo, own
product) and (photo, generated) pairs, so no irrelevant products here; otherwise the
PLDT setup of configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "A + D (Adam)"
    config.loss.use_negatives = False
    config.optimizer.name = "adam"
    return config
