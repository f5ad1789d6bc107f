"""python -m pldt_jax.main --config=configs/ipt_resnet_128.py --workdir=workdirs/ipt_resnet_128

Follow-up paper (image-product-transformation.txt, Table 1) "A + D (ResNet, 128 px)":
the residual converter at 128 px (one more stride-2 stage at the image end). Its
association discriminator sees only (photo, own product) and (photo, generated) pairs,
so no irrelevant products here; otherwise the PLDT setup of configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "A + D (ResNet, 128 px)"
    config.loss.use_negatives = False
    config.model.converter = "resnet"
    config.resolution = 128
    return config
