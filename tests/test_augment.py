import jax
import jax.numpy as jnp
import numpy as np

from pldt_jax import augment


def batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        key: jnp.asarray(rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8))
        for key in ("source", "target", "negative")
    }


def test_flip_mirrors_photo_and_products_of_the_same_samples():
    original = batch()
    flipped = augment.flip_pairs(jax.random.key(3), original)
    mirrored = [
        bool(jnp.array_equal(flipped["source"][i], original["source"][i, :, ::-1]))
        for i in range(8)
    ]
    assert 0 < sum(mirrored) < 8
    for key in ("target", "negative"):
        for i, was_mirrored in enumerate(mirrored):
            expected = original[key][i, :, ::-1] if was_mirrored else original[key][i]
            np.testing.assert_array_equal(flipped[key][i], expected)


def test_shift_moves_each_image_and_repeats_the_edge():
    images = jnp.arange(2 * 6 * 6, dtype=jnp.float32).reshape(2, 6, 6, 1)
    shifted = augment.shift_images(jax.random.key(0), images, 2)
    assert shifted.shape == images.shape
    for i in range(2):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if np.array_equal(shifted[i, 2:4, 2:4], images[i, 2 + dy : 4 + dy, 2 + dx : 4 + dx])
        ]
        assert len(matches) == 1
        dy, dx = matches[0]
        rows = np.clip(np.arange(6) + dy, 0, 5)
        cols = np.clip(np.arange(6) + dx, 0, 5)
        np.testing.assert_array_equal(shifted[i], images[i][rows][:, cols])


def test_augment_batch_leaves_products_unshifted_and_is_identity_when_off():
    original = batch()
    assert augment.augment_batch(jax.random.key(0), original, False, 0) is original
    shifted = augment.augment_batch(jax.random.key(0), original, False, 3)
    np.testing.assert_array_equal(shifted["target"], original["target"])
    assert not np.array_equal(shifted["source"], original["source"])
