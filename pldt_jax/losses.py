"""Losses of PLDT section 4, all on logits so that they stay finite for confident discriminators."""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pldt_jax.config import CONVERTER_LOSSES, PIXEL_TERMS

Distance = Callable[[jax.Array, jax.Array], jax.Array]


def bce_with_logits(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean binary cross-entropy, Eq. 2 / Eq. 5, with the sigmoid folded in stably."""
    return optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype)).mean()


def real_fake_loss(logits: jax.Array, is_real: jax.Array) -> jax.Array:
    """Eq. 2: target 1 for real product images (associated or irrelevant), 0 for generated."""
    return bce_with_logits(logits, is_real)


def domain_loss(logits: jax.Array, is_associated: jax.Array) -> jax.Array:
    """Eq. 5: target 1 only for (source, its own product); 0 for generated or irrelevant."""
    return bce_with_logits(logits, is_associated)


def converter_adversarial_loss(logits: jax.Array, kind: str, is_generated: jax.Array) -> jax.Array:
    """What the converter minimises against one discriminator, over its generated candidates.

    The discriminator judges the same candidate batch I as in its own update (Eq. 6),
    with the converter's live output at the generated positions: the other candidates
    do not depend on the converter, and the discriminator's batch norm then sees the
    batch it was trained on (an all-generated batch would be normalised differently
    and fool it for free).
    'non_saturating' (default, as DCGAN): -log D(C(x)), strong gradients early on.
    'paper': Eq. 6 as printed, the converter maximises the discriminator's loss,
    i.e. minimises log(1 - D(C(x))).
    """
    if kind == "non_saturating":
        per_sample = optax.sigmoid_binary_cross_entropy(logits, jnp.ones_like(logits))
    elif kind == "paper":
        per_sample = -optax.sigmoid_binary_cross_entropy(logits, jnp.zeros_like(logits))
    else:
        raise ValueError(f"unknown converter loss {kind!r}; expected one of {CONVERTER_LOSSES}")
    weights = is_generated.astype(per_sample.dtype)
    return jnp.sum(per_sample * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def mse(prediction: jax.Array, target: jax.Array, pool: int = 1) -> jax.Array:
    """Mean-square error over pixels (the "C+MSE" baseline), or over the images' `pool` x
    `pool` area means: blind to detail finer than a block, such as stripes whose place on
    the shop image the photo cannot show, so the discriminators may draw it."""
    prediction, target = prediction.astype(jnp.float32), target.astype(jnp.float32)
    if pool > 1:
        prediction, target = block_means(prediction, pool), block_means(target, pool)
    return jnp.mean(jnp.square(prediction - target))


def block_means(images: jax.Array, size: int) -> jax.Array:
    """(N, H, W, C) -> (N, H / size, W / size, C): the mean of each size x size block."""
    n, h, w, c = images.shape
    return images.reshape(n, h // size, size, w // size, size, c).mean(axis=(2, 4))


def amplitude_spectrum_distance(
    prediction: jax.Array, target: jax.Array, min_frequency: int = 0
) -> jax.Array:
    """Mean-square distance between the images' amplitude spectra (2-D FFT per channel).

    The part of the mean-square error blind to where a texture lies: moving stripes, checks
    or dots by part of a period changes the phase of their frequencies, not the amplitude.
    A product's pattern phase cannot be read from the photo (the shop image is framed
    independently), so the mean-square term alone averages patterns into blur; this term
    asks for the pattern's frequencies at whatever phase. Frequencies below `min_frequency`
    cycles per image along both axes (the silhouette, whose place the photo does tell) are
    left to the mean-square term. With the orthonormal FFT it is at most `mse`
    (Parseval), so the two weights share a scale.
    """

    def amplitude(images: jax.Array) -> jax.Array:
        spectrum = jnp.fft.fft2(images.astype(jnp.float32), axes=(1, 2), norm="ortho")
        # sqrt(|z|^2 + eps), not |z|: abs has no gradient at 0, where a flat image sits.
        return jnp.sqrt(jnp.square(spectrum.real) + jnp.square(spectrum.imag) + 1e-12)

    height, width = prediction.shape[1:3]
    cycles = np.maximum.outer(
        np.abs(np.fft.fftfreq(height, 1 / height)), np.abs(np.fft.fftfreq(width, 1 / width))
    )
    kept = jnp.asarray(cycles >= min_frequency, jnp.float32)[None, :, :, None]
    return jnp.mean(kept * jnp.square(amplitude(prediction) - amplitude(target)))


def edge_shifts(images: jax.Array, reach: int) -> Callable[[int, int], jax.Array]:
    """A function of (down, across), each from 0 to `reach`, that gives the (N, H, W, C)
    images moved up by `down` and left by `across` pixels, the last row (column) repeated
    into the space they leave: pixel [i, j] of the result is pixel [i + down, j + across]
    of the image, or of its edge past it. The images are padded once for every shift."""
    height, width = images.shape[1:3]
    padded = jnp.pad(images, ((0, 0), (0, reach), (0, reach), (0, 0)), mode="edge")
    return lambda down, across: padded[:, down : down + height, across : across + width]


def texture_energy(images: jax.Array, pool: int = 8, lags: Sequence[int] = (1,)) -> jax.Array:
    """(N, H, W, C) -> (N, H / pool, W / pool, 2 C len(lags)): per lag k, the root-mean-square
    difference between pixels k apart across, then down, in each channel of pool x pool blocks.

    How much texture each block holds and which way it runs (horizontal stripes vary down the
    image, vertical ones across it, checks and dots both), blind to where a stripe lies within
    the block. The photo does not show where a product's stripes fall on the shop image, so
    the mean-square term draws a pattern as its colours' blend; this asks for the pattern's
    texture at whatever phase. At lag 1 thin lines hold as much of it as broad stripes of the
    same contrast; lags of a few pixels tell them apart (broad stripes still differ there).
    Past the last row (column) the image repeats it.
    """
    images = images.astype(jnp.float32)
    shifted = edge_shifts(images, max(lags))
    differences = [
        shifted(down, across) - images for lag in lags for down, across in ((0, lag), (lag, 0))
    ]
    # + 1e-6: the square root has no gradient at 0, where a flat block sits.
    return jnp.sqrt(block_means(jnp.square(jnp.concatenate(differences, axis=-1)), pool) + 1e-6)


def texture_distance(
    prediction: jax.Array, target: jax.Array, pool: int = 8, lags: Sequence[int] = (1,)
) -> jax.Array:
    """Mean-square distance of the images' `texture_energy`: a striped product drawn with
    stripes at another phase is near it, drawn as the stripes' blend is far."""
    return jnp.mean(
        jnp.square(texture_energy(prediction, pool, lags) - texture_energy(target, pool, lags))
    )


def cross_energy(images: jax.Array, lags: Sequence[int], pool: int = 8) -> jax.Array:
    """(N, H, W, C) -> (N, H / pool, W / pool, len(lags) C): per channel and lag k, the
    root-mean-square mixed difference x[i+k, j+k] - x[i+k, j] - x[i, j+k] + x[i, j] in
    pool x pool blocks.

    The texture that varies across and down together: a check, a dot, a corner of the
    silhouette. Stripes, and any plaid (a horizontal pattern plus a vertical one), have
    none, however much `texture_energy` they hold, so this tells checks from the plaid of
    thin lines that matches their texture energy. Over several lags it tells the squares'
    size (at a lag of the square's side every pixel differs, at twice it none), and like
    `texture_energy` it is blind to where within a block the squares lie. Past the last
    row (column) the image repeats it.
    """
    images = images.astype(jnp.float32)
    shifted = edge_shifts(images, max(lags))
    mixed = [shifted(lag, lag) - shifted(lag, 0) - shifted(0, lag) + images for lag in lags]
    # + 1e-6: the square root has no gradient at 0, where a flat block sits.
    return jnp.sqrt(block_means(jnp.square(jnp.concatenate(mixed, axis=-1)), pool) + 1e-6)


def cross_distance(
    prediction: jax.Array, target: jax.Array, lags: Sequence[int], pool: int = 8
) -> jax.Array:
    """Mean-square distance of the images' `cross_energy`: checks drawn at another phase are
    near the product's, a plaid or the squares' blend is as far as a plain top."""
    return jnp.mean(
        jnp.square(cross_energy(prediction, lags, pool) - cross_energy(target, lags, pool))
    )


# What a block's colours are measured along: each channel, and each pair of channels'
# difference, which tells a red and green check from a yellow and black one (each channel
# holds the same two values in both).
COLOR_DIRECTIONS = np.array(
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0], [0, 1, -1], [1, 0, -1]], np.float32
)


def color_moments(images: jax.Array, pool: int = 8) -> jax.Array:
    """(N, H, W, 3) -> (N, H / pool, W / pool, 18): the mean of x, x^2 and x^3 over each
    pool x pool block, for x the pixels' projections on `COLOR_DIRECTIONS`.

    A block in two colours is a two-valued distribution along each direction, which its
    first three moments fix: both values and how much of the block each covers, wherever in
    the block they lie. So a pattern's colours, not only their blend and contrast.
    """
    x = images.astype(jnp.float32) @ jnp.asarray(COLOR_DIRECTIONS.T)
    return block_means(jnp.concatenate([x, x * x, x * x * x], axis=-1), pool)


def color_moments_distance(prediction: jax.Array, target: jax.Array, pool: int = 8) -> jax.Array:
    """Mean-square distance of the images' `color_moments`: stripes drawn in the product's two
    colours at another phase are near it, drawn in their blend or in hues of their own
    (green and purple for orange and black) are far."""
    return jnp.mean(jnp.square(color_moments(prediction, pool) - color_moments(target, pool)))


def silhouette(images: jax.Array, softness: float = 0.03) -> jax.Array:
    """(N, H, W, C) images in [-1, 1] on white -> (N, H, W) in [0, 1): how far each pixel is
    from background, by its strongest channel's distance d from white, as d / (d + softness).

    A white top (d 0.06) reads 0.67, a yellow or a black one 0.97: any garment stands out
    against the background alike. The curve never flattens, so even a grey first answer
    has a gradient towards white background.
    """
    ink = jnp.maximum(jnp.max((1.0 - images.astype(jnp.float32)) / 2.0, axis=-1), 0.0)
    return ink / (ink + softness)


def silhouette_mse(prediction: jax.Array, target: jax.Array) -> jax.Array:
    """Mean-square error of the images' silhouettes: a sleeve, a hood or a strap in the wrong
    place costs about as much in any colour, where the plain mean-square error weighs it by
    its colour's contrast with white (a pale sleeve next to nothing)."""
    return jnp.mean(jnp.square(silhouette(prediction) - silhouette(target)))


def feature_matching(
    product_features: Sequence[jax.Array], generated_features: Sequence[jax.Array]
) -> jax.Array:
    """pix2pixHD's feature-matching term: the mean absolute difference of a discriminator's
    features on each sample's product and on its generated image, averaged over the layers.

    A distance the discriminator learns: it compares what the discriminator tells products
    from generated images by, not each pixel's colour, and it asks something of every
    sample's output, where Algorithm 1's adversarial terms judge one candidate in three.
    """
    distances = [
        jnp.mean(jnp.abs(real - fake))
        for real, fake in zip(product_features, generated_features, strict=True)
    ]
    return sum(distances) / len(distances)


def pixel_terms(
    loss: ml_collections.ConfigDict, adversarial: bool
) -> dict[str, tuple[float, Distance]]:
    """The pixel terms (`config.PIXEL_TERMS`) that `loss` weighs above 0, in that order, each
    as (weight, distance of the generated images from their products) with its settings.

    `adversarial`: the discriminators train beside them, so the mean-square term compares
    `loss.mse_pool` block means; without them (C+MSE, the warm-up) it compares pixels.
    """
    mse_pool = int(loss.mse_pool) if adversarial else 1
    texture_lags = tuple(int(lag) for lag in loss.texture_lags)
    cross_lags = tuple(int(lag) for lag in loss.cross_texture_lags)
    distances: dict[str, Distance] = {
        "mse": lambda x, y: mse(x, y, mse_pool),
        "silhouette": silhouette_mse,
        "texture": lambda x, y: texture_distance(x, y, int(loss.texture_pool), texture_lags),
        "cross_texture": lambda x, y: cross_distance(
            x, y, cross_lags, int(loss.cross_texture_pool)
        ),
        "spectrum": lambda x, y: amplitude_spectrum_distance(
            x, y, int(loss.spectrum_min_frequency)
        ),
        "color_moments": lambda x, y: color_moments_distance(x, y, int(loss.color_moments_pool)),
    }
    weights = {name: float(loss[f"{name}_weight"]) for name in PIXEL_TERMS}
    return {name: (weights[name], distances[name]) for name in PIXEL_TERMS if weights[name] > 0}
