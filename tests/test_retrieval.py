import jax.numpy as jnp
import numpy as np
import optax

from pldt_jax import metrics, retrieval
from pldt_jax.train_step import TrainState


def closeness(variables, pairs, train):
    """A stand-in domain discriminator: the closer the two images, the more associated."""
    del variables, train
    return -jnp.mean(jnp.square(pairs[..., :3] - pairs[..., 3:]), axis=(1, 2, 3))


def test_retrieves_the_best_scoring_product_across_chunks():
    rng = np.random.default_rng(0)
    products = rng.integers(0, 256, (11, 8, 8, 3), dtype=np.uint8)
    truth = rng.permutation(11)[:7]
    noise = rng.integers(-20, 21, (7, 8, 8, 3))
    photos = np.clip(products[truth].astype(int) + noise, 0, 255).astype(np.uint8)
    domain = TrainState.create(apply_fn=closeness, params={}, tx=optax.identity(), batch_stats={})
    found = retrieval.retrieve(domain, photos, products, photo_batch=2, product_chunk=3)
    np.testing.assert_array_equal(found, truth)


def test_score_matrix_holds_every_pair_and_ranks_the_true_product_first():
    rng = np.random.default_rng(1)
    products = rng.integers(0, 256, (9, 8, 8, 3), dtype=np.uint8)
    truth = rng.permutation(9)[:5]
    photos = products[truth]
    domain = TrainState.create(apply_fn=closeness, params={}, tx=optax.identity(), batch_stats={})
    scores = retrieval.score_matrix(domain, photos, products, photo_batch=2, product_chunk=4)
    assert scores.shape == (5, 9)
    np.testing.assert_allclose(
        scores[1, 3], retrieval.pair_scores(domain, photos[1:2], products[3:4])[0, 0]
    )
    # The argmax answer and the matrix come from the same blocks.
    found = retrieval.retrieve(domain, photos, products, photo_batch=2, product_chunk=4)
    np.testing.assert_array_equal(found, scores.argmax(axis=1))
    np.testing.assert_array_equal(metrics.retrieval_ranks(scores, truth, higher_is_closer=True), 1)
