"""PLDT Table 2 "Retrieval by DD-score": answer with the training product the domain
discriminator finds most associated with the photo.

A generalisation check for the converter: if it only memorised training products,
it could not beat retrieving the best real one.
"""

from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from pldt_jax.images import to_float
from pldt_jax.train_step import TrainState

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


def score_blocks(
    domain: TrainState,
    photos: np.ndarray,
    products: np.ndarray,
    photo_batch: int = 8,
    product_chunk: int = 256,
) -> Iterator[np.ndarray]:
    """`pair_scores` of every uint8 photo with every product, photo_batch photos at a time.

    Yields (photo_batch, num_products) blocks of rows (the last may be shorter); pairs are
    scored photo_batch x product_chunk at a time so memory stays bounded whatever the
    catalogue size.
    """
    for start in range(0, len(photos), photo_batch):
        block = photos[start : start + photo_batch]
        yield np.concatenate(
            [
                np.asarray(pair_scores(domain, block, products[i : i + product_chunk]))
                for i in range(0, len(products), product_chunk)
            ],
            axis=1,
        )


def score_matrix(
    domain: TrainState,
    photos: np.ndarray,
    products: np.ndarray,
    photo_batch: int = 8,
    product_chunk: int = 256,
) -> np.ndarray:
    """The (num_photos, num_products) float32 scores, higher = more associated: the rows of
    `score_blocks` stacked (ranked by `metrics.retrieval_ranks(..., higher_is_closer=True)`)."""
    rows = list(score_blocks(domain, photos, products, photo_batch, product_chunk))
    return np.concatenate(rows) if rows else np.zeros((0, len(products)), np.float32)


def retrieve(
    domain: TrainState,
    photos: np.ndarray,
    products: np.ndarray,
    photo_batch: int = 8,
    product_chunk: int = 256,
) -> np.ndarray:
    """Index of the best-scoring product for each uint8 photo, one block of rows at a time
    (`score_blocks`): the whole score matrix is never held."""
    blocks = score_blocks(domain, photos, products, photo_batch, product_chunk)
    best = [scores.argmax(axis=1) for scores in blocks]
    return np.concatenate(best) if best else np.zeros(0, np.int64)
