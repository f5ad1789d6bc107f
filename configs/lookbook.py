"""python -m pldt_jax.main --config=configs/lookbook.py --workdir=workdirs/lookbook

The PLDT paper's experiment: converter + real/fake + domain discriminator
(C+RF+DD), 64 px LookBook, SGD lr 2e-4 momentum 0.5, batch 128, 25 epochs then
5 at 2e-5. Needs lookbook.tar in the manual dir (see datasets/lookbook/README.md).
"""

from pldt_jax.config import default_config


def get_config():
    return default_config()
