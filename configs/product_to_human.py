"""python -m pldt_jax.main --config=configs/product_to_human.py --workdir=workdirs/product_to_human

PLDT Fig. 6, the reverse direction: from a product image, generate a photo of a person
wearing it. Source and target swap; the irrelevant candidate is a photo of another
product. The paper trains 65 epochs, then 5 more at a tenth of the rate; the rest is
configs/lookbook.py.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "C+RF+DD (product to human)"
    config.dataset.direction = "product_to_human"
    config.num_epochs = 70
    config.optimizer.decay_epochs = 65
    return config
