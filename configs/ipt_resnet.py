"""python -m pldt_jax.main --config=configs/ipt_resnet.py --workdir=workdirs/ipt_resnet

Follow-up paper (image-product-transformation.txt, Table 1) "A + D (ResNet)": both
discriminators with the residual converter (ResNet-50 bottleneck encoder, reversed
ResNet-34 decoder), SGD as the paper trains it (section 4.2.2). Its association
discriminator sees only (photo, own product) and (photo, generated) pairs, so no
irrelevant products here; otherwise the PLDT setup of configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "A + D (ResNet)"
    config.loss.use_negatives = False
    config.model.converter = "resnet"
    return config
