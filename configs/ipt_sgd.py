"""python -m pldt_jax.main --config=configs/ipt_sgd.py --workdir=workdirs/ipt_sgd

Follow-up paper (image-product-transformation.txt, Table 1) "A + D (SGD)": both
discriminators, SGD with momentum 0.5. Its association discriminator sees only (photo,
own product) and (photo, generated) pairs, so no irrelevant products here; otherwise the
PLDT setup of configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "A + D (SGD)"
    config.loss.use_negatives = False
    config.optimizer.name = "sgd"
    return config
