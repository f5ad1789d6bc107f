"""Label-preserving jitter of training pairs, on the device inside the train step.

Not in the paper. A horizontal flip of a photo is a photo of the mirrored garment, so the
photo and its product (and the irrelevant product, for symmetry) flip together; a shift of
the photo alone moves the person in the frame, as LookBook's photos do, without changing
the product to draw. Shifted-in pixels repeat the border (a photo's background goes on).
"""

import jax
import jax.numpy as jnp


def flip_pairs(rng: jax.Array, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Mirrors each sample's source, target and negative together with probability 1/2."""
    images = {key: batch[key] for key in ("source", "target", "negative")}
    flip = jax.random.bernoulli(rng, 0.5, (images["source"].shape[0], 1, 1, 1))
    return batch | {key: jnp.where(flip, x[:, :, ::-1], x) for key, x in images.items()}


def shift_images(rng: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
    """Moves each (N, H, W, C) image by up to `max_shift` px along each axis, edges repeated."""
    n, h, w, _ = images.shape
    offsets = jax.random.randint(rng, (n, 2), -max_shift, max_shift + 1)
    padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)), mode="edge")

    def crop(image: jax.Array, offset: jax.Array) -> jax.Array:
        start = (max_shift + offset[0], max_shift + offset[1], 0)
        return jax.lax.dynamic_slice(image, start, (h, w, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


def augment_batch(
    rng: jax.Array, batch: dict[str, jax.Array], flip: bool, max_shift: int
) -> dict[str, jax.Array]:
    """The config's jitter (`dataset.flip`, `dataset.max_shift`); the batch itself when off."""
    flip_key, shift_key = jax.random.split(rng)
    if flip:
        batch = flip_pairs(flip_key, batch)
    if max_shift > 0:
        batch = batch | {"source": shift_images(shift_key, batch["source"], max_shift)}
    return batch
