"""The three networks of PLDT Table 1: converter (encoder + decoder) and the two discriminators.

Layer filters are Table 1's times `width` (rounded, at least 1), so tests and the
CPU default can use small models with the same structure. At 128 px every
network gets one more stride-2 stage, at the full-resolution end.
"""

from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from pldt_jax.config import CONVERTERS, RESOLUTIONS
from pldt_jax.layers import DownConv, ResizeUpConv, UpConv, batch_norm, scaled, weight_init
from pldt_jax.resnet import ResNetConverter

LEAK = 0.2


def stage_filters(resolution: int, width: float) -> tuple[int, ...]:
    """Filters of the stride-2 stages, from the image side to the 4x4 end."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    filters = (128, 256, 512, 1024)
    if resolution == 128:
        filters = (64, *filters)
    return tuple(scaled(f, width) for f in filters)


class ConvTrunk(nn.Module):
    """Conv. 1-4 of Table 1(a): 5x5 stride-2 convolutions, batch norm on all but the first;
    each stage followed by `stage_convs` 3x3 stride-1 convolutions (0 in Table 1)."""

    filters: Sequence[int]
    dtype: jnp.dtype = jnp.float32
    strided_conv: str = "auto"
    stage_convs: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, ...]:
        """Each stage's output, from the image side to the deepest."""
        stages = []
        for i, features in enumerate(self.filters):
            x = DownConv(
                features,
                kernel_init=weight_init,
                use_bias=i == 0,
                dtype=self.dtype,
                implementation=self.strided_conv,
                name=f"Conv_{i}",  # The parameter names of nn.Conv, as before DownConv.
            )(x)
            if i > 0:
                x = batch_norm(train, self.dtype)(x)
            x = nn.leaky_relu(x, LEAK)
            for j in range(self.stage_convs):
                x = nn.Conv(
                    features,
                    (3, 3),
                    kernel_init=weight_init,
                    use_bias=False,
                    dtype=self.dtype,
                    name=f"StageConv_{i}_{j}",
                )(x)
                x = nn.leaky_relu(batch_norm(train, self.dtype)(x), LEAK)
            stages.append(x)
        return tuple(stages)


def head(features: int, dtype, use_bias: bool) -> nn.Conv:
    """Conv. 5 of Table 1(a).

    Table 1 prints "1x1" for this layer, but only a 4x4 valid kernel turns the
    4x4x1024 map of Conv. 4 into one vector per image, so it is 4x4 here.
    """
    return nn.Conv(
        features, (4, 4), padding="VALID", kernel_init=weight_init, use_bias=use_bias, dtype=dtype
    )


class Encoder(nn.Module):
    """Photo -> 64-d code (Table 1(a), first entries).

    With `attention_heads` > 0 (not the paper's), the code also gets a linear map of
    attention-pooled means (`attention_pool`): where the figure stands varies from photo to
    photo, and this gives the garment's colours a path to the code from wherever it stands.
    """

    filters: Sequence[int]
    code_dim: int = 64
    dtype: jnp.dtype = jnp.float32
    strided_conv: str = "auto"
    stage_convs: int = 0
    attention_heads: int = 0

    @nn.compact
    def __call__(self, photo: jax.Array, train: bool) -> jax.Array:
        stages = ConvTrunk(self.filters, self.dtype, self.strided_conv, self.stage_convs)(
            photo, train
        )
        x = head(self.code_dim, self.dtype, use_bias=False)(stages[-1])
        if self.attention_heads:
            logits = nn.Conv(
                self.attention_heads,
                (1, 1),
                kernel_init=nn.initializers.zeros,  # Every head starts as the photo's mean.
                dtype=self.dtype,
                name="AttentionLogits",
            )
            pooled, weights = attention_pool(photo, stages[ATTENDED_STAGE], logits)
            self.sow("intermediates", "attention", weights)
            code = nn.Dense(
                self.code_dim, False, self.dtype, kernel_init=weight_init, name="AttentionCode"
            )
            x = x + code(pooled.astype(self.dtype)).reshape(x.shape)
        x = batch_norm(train, self.dtype)(x)
        return nn.leaky_relu(x, LEAK).reshape(x.shape[0], self.code_dim)


# The stage whose 16x16 features (at either resolution) say where to look.
ATTENDED_STAGE = -3


def attention_pool(
    photo: jax.Array, features: jax.Array, logits: Callable[[jax.Array], jax.Array]
) -> tuple[jax.Array, jax.Array]:
    """Per head, a softmax-weighted mean over the positions of the features' grid of the
    photo's colours (area means over each cell) and of the features (N, S, S, F), weighted
    by `logits` of the features (N, S, S, heads).

    Returns the means (N, heads * (3 + F)) and the weights (N, S, S, heads), float32.
    """
    n, size, _, _ = features.shape
    cell = photo.shape[1] // size
    colours = nn.avg_pool(photo.astype(jnp.float32), (cell, cell), (cell, cell))
    values = jnp.concatenate([colours, features.astype(jnp.float32)], axis=-1)
    weights = jax.nn.softmax(logits(features).reshape(n, size * size, -1).astype(jnp.float32), 1)
    pooled = jnp.einsum("npk,npc->nkc", weights, values.reshape(n, size * size, -1))
    return pooled.reshape(n, -1), weights.reshape(n, size, size, -1)


class Decoder(nn.Module):
    """64-d code -> image in [-1, 1] (Table 1(b)).

    `upsample` 'transposed' is Table 1's 5x5 stride-2 transposed convolutions; 'resize'
    replaces each by nearest-neighbour upsampling and a 3x3 convolution (`ResizeUpConv`),
    which cannot draw the transposed form's checkerboard.
    """

    filters: Sequence[int]  # Stage filters from the image side, as the encoder's.
    dtype: jnp.dtype = jnp.float32
    strided_conv: str = "auto"
    upsample: str = "transposed"

    @nn.compact
    def __call__(self, code: jax.Array, train: bool) -> jax.Array:
        deepest = self.filters[-1]
        # Conv. 1 of Table 1(b) is a 1x1 convolution of the 1x1x64 code to 4x4x1024,
        # i.e. a dense layer reshaped to a 4x4 map.
        x = nn.Dense(4 * 4 * deepest, kernel_init=weight_init, use_bias=False, dtype=self.dtype)(
            code
        )
        x = nn.relu(batch_norm(train, self.dtype)(x.reshape(-1, 4, 4, deepest)))
        if self.upsample == "resize":
            up = partial(ResizeUpConv, kernel_init=weight_init, dtype=self.dtype)
        else:
            up = partial(
                UpConv, kernel_init=weight_init, dtype=self.dtype, implementation=self.strided_conv
            )
        for features in reversed(self.filters[:-1]):
            x = up(features, use_bias=False)(x)
            x = nn.relu(batch_norm(train, self.dtype)(x))
        x = up(3, use_bias=True)(x)
        return jnp.tanh(x.astype(jnp.float32))


class Converter(nn.Module):
    """The pixel-level domain converter C: encoder to a semantic code, decoder to pixels."""

    resolution: int = 64
    width: float = 1.0
    code_dim: int = 64
    dtype: jnp.dtype = jnp.float32
    strided_conv: str = "auto"
    upsample: str = "transposed"
    encoder_stage_convs: int = 0
    encoder_attention_heads: int = 0

    def setup(self):
        filters = stage_filters(self.resolution, self.width)
        self.encoder = Encoder(
            filters,
            self.code_dim,
            self.dtype,
            self.strided_conv,
            self.encoder_stage_convs,
            self.encoder_attention_heads,
        )
        self.decoder = Decoder(filters, self.dtype, self.strided_conv, self.upsample)

    def __call__(self, source: jax.Array, train: bool = True) -> jax.Array:
        return self.decoder(self.encoder(source, train), train)


class Discriminator(nn.Module):
    """Real/fake (3-channel input) or domain (6-channel (source, candidate) stack) discriminator.

    Returns one logit per image; the sigmoid of Table 1 lives in the loss.
    """

    resolution: int = 64
    width: float = 1.0
    dtype: jnp.dtype = jnp.float32
    strided_conv: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        filters = stage_filters(self.resolution, self.width)
        x = ConvTrunk(filters, self.dtype, self.strided_conv)(x, train)[-1]
        x = head(1, self.dtype, use_bias=True)(x)
        return x.reshape(x.shape[0]).astype(jnp.float32)


def discriminator_width(model: ml_collections.ConfigDict) -> float:
    """The discriminators' filter multiplier: `model.discriminator_width`, or 0 for the
    converter's `model.width` (the paper's networks share Table 1's widths)."""
    return model.discriminator_width or model.width


def create_models(config: ml_collections.ConfigDict) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(converter, real/fake discriminator, domain discriminator) from the config."""
    model = config.model
    dtype = jnp.dtype(model.dtype)
    if model.converter == "dcgan":
        converter = Converter(
            config.resolution,
            model.width,
            model.code_dim,
            dtype,
            model.strided_conv,
            model.upsample,
            model.encoder_stage_convs,
            model.encoder_attention_heads,
        )
    elif model.converter == "resnet":
        converter = ResNetConverter(config.resolution, model.width, dtype, model.strided_conv)
    else:
        raise ValueError(f"unknown converter {model.converter!r}; expected one of {CONVERTERS}")
    discriminator = partial(
        Discriminator,
        config.resolution,
        discriminator_width(model),
        dtype,
        model.strided_conv,
    )
    return converter, discriminator(), discriminator()
