"""PLDT Table 2 "Retrieval by DD-score": answer with the training product the domain
discriminator finds most associated with the photo.

A generalisation check for the converter: if it only memorised training products,
it could not beat retrieving the best real one.
"""

import jax
import jax.numpy as jnp
import numpy as np

from pldt_jax.images import to_float
from pldt_jax.step import TrainState

METHOD_NAME = "Retrieval by DD-score"  # How results and reports name this baseline.


@jax.jit
def pair_scores(domain: TrainState, photos: jax.Array, products: jax.Array) -> jax.Array:
    """Domain-discriminator logits of every (photo, product) pair: (num_photos, num_products)."""
    variables = {"params": domain.params, "batch_stats": domain.batch_stats}
    num_photos, num_products = photos.shape[0], products.shape[0]
    pairs = jnp.concatenate(
        [
            jnp.repeat(to_float(photos), num_products, axis=0),
            jnp.tile(to_float(products), (num_photos, 1, 1, 1)),
        ],
        axis=-1,
    )
    logits = domain.apply_fn(variables, pairs, train=False)
    return logits.reshape(num_photos, num_products)


def retrieve(
    domain: TrainState,
    photos: np.ndarray,
    products: np.ndarray,
    photo_batch: int = 8,
    product_chunk: int = 256,
) -> np.ndarray:
    """Index of the best-scoring product for each uint8 photo.

    Pairs are scored in blocks of photo_batch x product_chunk so memory stays bounded
    whatever the catalogue size.
    """
    best = []
    for start in range(0, len(photos), photo_batch):
        block = photos[start : start + photo_batch]
        scores = np.concatenate(
            [
                np.asarray(pair_scores(domain, block, products[i : i + product_chunk]))
                for i in range(0, len(products), product_chunk)
            ],
            axis=1,
        )
        best.append(scores.argmax(axis=1))
    return np.concatenate(best)
