"""python -m pldt_jax.main --config=configs/retrieval_dd.py --workdir=workdirs/retrieval_dd

PLDT Table 2 "Retrieval by DD-score": trains C+RF+DD as configs/lookbook.py, then
answers each test photo with the training product its domain discriminator scores
highest (its eval/metrics.json and examples score those retrieved products).
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "Retrieval by DD-score"
    config.eval_method = "retrieval"
    return config
