"""The residual converter of the follow-up paper (Ge & Li, "Image-product transformation", §3.1.1).

Encoder: ResNet-50 (He et al. 2016) without its max-pool and average-pool, 64x64x3 -> 4x4x2048.
Decoder: ResNet-34 reversed, 4x4x2048 -> 512 -> 256 -> 128 -> 64 channels, then a 7x7
convolution to 3 channels and tanh. Channel counts are times `width` (rounded, at least 1) as in
`models`, and the layers use `layers.batch_norm` and `layers.weight_init` like the rest of the
project (the paper gives no initialisation of its own).

At 128 px (not in the paper, which is 64 px only) each half gets one more stride 2 at its
full-resolution end, as `models` does: the first bottleneck of encoder stage 1 has stride 2 (where
ResNet-50 had its max-pool, so the total stride is ResNet-50's 32), and the decoder's final 7x7
convolution is a stride-2 transposed one (the reverse of the stride-2 7x7 stem).
"""

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from pldt_jax.config import RESOLUTIONS
from pldt_jax.layers import UpConv, batch_norm, scaled, weight_init

STEM_FILTERS = 64
# ResNet-50 (He et al. 2016, Table 1): bottleneck blocks per stage and their output depths.
ENCODER_BLOCKS = (3, 4, 6, 3)
ENCODER_DEPTHS = (256, 512, 1024, 2048)
BOTTLENECK_EXPANSION = 4
# ResNet-34's basic-block stages (64, 128, 256, 512 with 3, 4, 6, 3 blocks), reversed.
DECODER_BLOCKS = (3, 6, 4, 3)
DECODER_DEPTHS = (512, 256, 128, 64)


def conv(features: int, kernel: int, strides: int, dtype) -> nn.Conv:
    """Bias-free convolution (batch norm follows), 'SAME'-padded as in ResNet."""
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(strides, strides),
        padding=kernel // 2,
        use_bias=False,
        kernel_init=weight_init,
        dtype=dtype,
    )


class Bottleneck(nn.Module):
    """ResNet-50 bottleneck: 1x1 -> 3x3 (stride here, as torchvision) -> 1x1 to `features`.

    The shortcut is a 1x1 convolution with batch norm where the shape changes (He et al.'s
    projection shortcut, option B), the identity elsewhere.
    """

    features: int
    inner: int
    strides: int = 1
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = partial(batch_norm, train, self.dtype)
        y = nn.relu(norm()(conv(self.inner, 1, 1, self.dtype)(x)))
        y = nn.relu(norm()(conv(self.inner, 3, self.strides, self.dtype)(y)))
        y = norm()(conv(self.features, 1, 1, self.dtype)(y))
        if self.strides != 1 or x.shape[-1] != self.features:
            x = norm()(conv(self.features, 1, self.strides, self.dtype)(x))
        return nn.relu(x + y)


class UpBasicBlock(nn.Module):
    """ResNet-34 basic block (two 3x3 convolutions), reversed: optionally upsampling by 2 first.

    Upsampling replaces the stride-2 3x3 convolution by a stride-2 3x3 transposed one. Its
    projection shortcut is a 2x2 stride-2 transposed convolution, not the literal reverse of
    ResNet's 1x1 stride-2 one: a 1x1 kernel would leave 3 of every 4 output pixels zero, a 2x2 one
    feeds each output pixel exactly one input pixel (a learned nearest-neighbour upsampling).
    """

    features: int
    upsample: bool = False
    dtype: jnp.dtype = jnp.float32
    implementation: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = partial(batch_norm, train, self.dtype)
        if self.upsample:
            up = partial(
                UpConv,
                self.features,
                use_bias=False,
                kernel_init=weight_init,
                dtype=self.dtype,
                implementation=self.implementation,
            )
            y = up((3, 3))(x)
            x = norm()(up((2, 2))(x))
        else:
            y = conv(self.features, 3, 1, self.dtype)(x)
            if x.shape[-1] != self.features:
                x = norm()(conv(self.features, 1, 1, self.dtype)(x))
        y = nn.relu(norm()(y))
        y = norm()(conv(self.features, 3, 1, self.dtype)(y))
        return nn.relu(x + y)


class ResNetEncoder(nn.Module):
    """Photo -> 4x4x2048 feature map: ResNet-50 without max-pool (as DCGAN), average pool and fc.

    The map itself is the code (§3.1.1: "downsampling the image size from 64x64 to 4x4, but at
    the same time increasing the depth from 3 to 2048"); there is no vector bottleneck.
    """

    stage_strides: tuple[int, ...]
    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = conv(scaled(STEM_FILTERS, self.width), 7, 2, self.dtype)(x)
        x = nn.relu(batch_norm(train, self.dtype)(x))
        for stage, (blocks, depth, strides) in enumerate(
            zip(ENCODER_BLOCKS, ENCODER_DEPTHS, self.stage_strides, strict=True), start=1
        ):
            for block in range(blocks):
                x = Bottleneck(
                    scaled(depth, self.width),
                    scaled(depth // BOTTLENECK_EXPANSION, self.width),
                    strides if block == 0 else 1,
                    self.dtype,
                    name=f"stage{stage}_block{block}",
                )(x, train)
        return x


class ResNetDecoder(nn.Module):
    """4x4 feature map -> image in [-1, 1]: reversed ResNet-34, then 7x7 conv to RGB and tanh.

    The first block of every stage upsamples by 2 (4 -> 8 -> 16 -> 32 -> 64); it also changes the
    depth (2048 -> 512 for the first), so it is the one with a projection shortcut. ResNet-34's
    max-pool is dropped as in the encoder (§3.1.1). The final layer, which the paper calls "a fully
    connected layer with 7x7x3 filter", is a 7x7 convolution with bias (no batch norm, as DCGAN's
    output layer), stride 2 transposed when `final_strides` is 2.
    """

    width: float = 1.0
    final_strides: int = 1
    dtype: jnp.dtype = jnp.float32
    strided_conv: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        for stage, (blocks, depth) in enumerate(
            zip(DECODER_BLOCKS, DECODER_DEPTHS, strict=True), start=1
        ):
            for block in range(blocks):
                x = UpBasicBlock(
                    scaled(depth, self.width),
                    upsample=block == 0,
                    dtype=self.dtype,
                    implementation=self.strided_conv,
                    name=f"stage{stage}_block{block}",
                )(x, train)
        if self.final_strides == 1:
            to_rgb = nn.Conv(3, (7, 7), padding=3, kernel_init=weight_init, dtype=self.dtype)
        else:
            to_rgb = UpConv(
                3,
                (7, 7),
                (self.final_strides, self.final_strides),
                kernel_init=weight_init,
                dtype=self.dtype,
                implementation=self.strided_conv,
            )
        return jnp.tanh(to_rgb(x).astype(jnp.float32))


class ResNetConverter(nn.Module):
    """The residual converter (generator) of the follow-up paper: encoder, then decoder.

    Called like `models.Converter`. There is no `code_dim`: the paper's code is the encoder's
    4x4x2048 map (no average pool, no fc; §3.1.1).
    """

    resolution: int = 64
    width: float = 1.0
    dtype: jnp.dtype = jnp.float32
    strided_conv: str = "auto"

    def setup(self):
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution}")
        # The stride at the full-resolution end: 1 at 64 px, 2 at 128 px (module docstring).
        end_strides = self.resolution // 64
        self.encoder = ResNetEncoder((end_strides, 2, 2, 2), self.width, self.dtype)
        self.decoder = ResNetDecoder(self.width, end_strides, self.dtype, self.strided_conv)

    def __call__(self, source: jax.Array, train: bool = True) -> jax.Array:
        return self.decoder(self.encoder(source, train), train)
