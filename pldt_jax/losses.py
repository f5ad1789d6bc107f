"""Losses of PLDT section 4, all on logits so that they stay finite for confident discriminators."""

import jax
import jax.numpy as jnp
import optax


def bce_with_logits(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean binary cross-entropy, Eq. 2 / Eq. 5, with the sigmoid folded in stably."""
    return optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype)).mean()


def real_fake_loss(logits: jax.Array, is_real: jax.Array) -> jax.Array:
    """Eq. 2: target 1 for real product images (associated or irrelevant), 0 for generated."""
    return bce_with_logits(logits, is_real)


def domain_loss(logits: jax.Array, is_associated: jax.Array) -> jax.Array:
    """Eq. 5: target 1 only for (source, its own product); 0 for generated or irrelevant."""
    return bce_with_logits(logits, is_associated)


def converter_adversarial_loss(
    fake_logits: jax.Array, kind: str, weights: jax.Array | None = None
) -> jax.Array:
    """What the converter minimises against one discriminator, on its generated images.

    'non_saturating' (default, as DCGAN): -log D(C(x)), strong gradients early on.
    'paper': Eq. 6 as printed, the converter maximises the discriminator's loss,
    i.e. minimises log(1 - D(C(x))). `weights` masks which samples count (Eq. 6
    averages over the whole batch while only generated candidates depend on C).
    """
    if kind == "non_saturating":
        per_sample = optax.sigmoid_binary_cross_entropy(fake_logits, jnp.ones_like(fake_logits))
    elif kind == "paper":
        per_sample = -optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits))
    else:
        raise ValueError(f"unknown converter loss {kind!r}; expected 'non_saturating' or 'paper'")
    if weights is None:
        return per_sample.mean()
    return (per_sample * weights).mean()


def mse(prediction: jax.Array, target: jax.Array) -> jax.Array:
    """Mean-square error over pixels (the "C+MSE" baseline)."""
    return jnp.mean(jnp.square(prediction.astype(jnp.float32) - target.astype(jnp.float32)))
