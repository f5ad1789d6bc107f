"""python -m pldt_jax.main --config=configs/lookbook.py --workdir=workdirs/lookbook

PLDT Table 2 "C+RF+DD", the paper's method and experiment (section 5.2): converter +
real/fake + domain discriminator, 64 px LookBook, SGD lr 2e-4 momentum 0.5, batch
128, 25 epochs then 5 at 2e-5. Needs lookbook.tar in the manual dir (README, Data);
`--config.dataset.source=synthetic_full` runs it on the synthetic LookBook.
"""

from pldt_jax.config import default_config


def get_config():
    return default_config()
