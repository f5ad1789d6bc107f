"""The building blocks both converters and the discriminators share.

The initialisation (`weight_init`, `batch_norm`), filter scaling (`scaled`), and the strided
convolutions of PLDT Table 1, each with a faster sub-pixel form for XLA's CPU backend.

XLA's CPU backend is slow on the backward passes of strided convolutions: the kernel gradient of a
transposed ("fractionally-strided") convolution takes 10-115x its forward pass on the decoder's
layers (see `benchmarks/strided_conv_cpu.py`), and the input gradient of the 8x8 -> 4x4 stride-2
convolution of the encoder and discriminators about 30x. Both layers here compute the same
function from the same parameters (those of `nn.ConvTranspose` / `nn.Conv`, so checkpoints are
interchangeable) in sub-pixel form, where every convolution has stride 1:
- `UpConv`: one stride-1 convolution to stride**2 times the output channels, then depth-to-space
  (4-30x faster forward+backward on the CPU);
- `DownConv`: space-to-depth, then one stride-1 convolution over stride**2 times the channels.
(Inserting zeros by hand before a stride-1 convolution was measured too and is slower still than
the native transposed convolution's backward pass, so it is not offered.)
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype
from jax import lax

from pldt_jax.config import STRIDED_CONVS

Array = jax.Array

# What 'auto' stands for on each JAX backend: the implementation measured faster on the whole
# training step, by benchmarks/step_benchmark.py (CPU) and benchmarks/gpu_suite.py (GPU), whose
# report says whether the measurement agrees with this table; docs/performance.md has the
# figures. 'gpu' is 'native' until the suite has run on a GPU. Other backends: 'native'.
AUTO_IMPLEMENTATION = {"cpu": "subpixel", "gpu": "native"}
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
# Table 1: weights drawn from N(0, 0.02); batch norm scale from N(1, 0.02) as DCGAN.
weight_init = nn.initializers.normal(stddev=0.02)


def scaled(filters: int, width: float) -> int:
    """A filter count times `width`, rounded, at least 1: small models of the same structure."""
    return max(1, round(filters * width))


def batch_norm(train: bool, dtype) -> nn.BatchNorm:
    """Batch norm as DCGAN's: momentum 0.9, scale drawn from N(1, 0.02)."""
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        dtype=dtype,
        scale_init=lambda key, shape, dtype: 1.0 + 0.02 * jax.random.normal(key, shape, dtype),
    )


def _same_pad_before(k: int, s: int) -> int:
    """Zeros `lax.conv_transpose(padding='SAME')` puts before the dilated input (per dim).

    Mirrors `jax._src.lax.convolution._conv_transpose_padding`; the rest of the total
    `k + s - 2` goes after, so the output is exactly `s` times the input.
    """
    return k - 1 if s > k - 1 else -(-(k + s - 2) // 2)


def _tap_layout(k: int, s: int, first: int, phase_sign: int) -> tuple[int, int, tuple[int, int]]:
    """Where a kernel's taps go in the stride-1 form, along one spatial dimension.

    Output phase d at stride-1 offset j uses tap `s*j + sign*d + first` (zero when outside the
    kernel). Returns the first offset `lo`, the number of offsets `n`, and the (before, after)
    zeros (negative: cropping) that make the padded kernel exactly `n*s` taps long with tap
    (j, d) at `s*(j - lo) + e`, where e = d downsampling and s-1-d upsampling: then a reshape to
    (n, s), reversed along s when upsampling, is the regrouped kernel.
    """
    phases = np.arange(s)
    lo = int(np.min(-((first + phase_sign * phases) // s)))  # ceil((-first - sign*d) / s)
    hi = int(np.max((k - 1 - first - phase_sign * phases) // s))
    n = hi - lo + 1
    before = -(first + s * lo - (0 if phase_sign > 0 else s - 1))
    return lo, n, (before, n * s - k - before)


def _regroup_kernel(
    kernel: Array, strides: Sequence[int], firsts: Sequence[int], phase_sign: int
) -> tuple[Array, list[tuple[int, int]]]:
    """(kh, kw, in, out) kernel -> stride-1 kernel over phase-stacked channels, and its padding.

    Upsampling (`phase_sign` -1) stacks phases on the output channels, ordered (py, px, out);
    downsampling (+1) on the input channels, ordered (py, px, in). Only pads, reshapes and
    transposes of the canonical kernel (no gather), so its gradient is as cheap as its forward.
    """
    (kh, kw, cin, cout), (sh, sw) = kernel.shape, strides
    lo_h, jh, pad_h = _tap_layout(kh, sh, firsts[0], phase_sign)
    lo_w, jw, pad_w = _tap_layout(kw, sw, firsts[1], phase_sign)
    zero = jnp.zeros((), kernel.dtype)
    sub = lax.pad(kernel, zero, [(*pad_h, 0), (*pad_w, 0), (0, 0, 0), (0, 0, 0)])
    sub = sub.reshape(jh, sh, jw, sw, cin, cout)
    if phase_sign < 0:
        sub = lax.rev(sub, (1, 3)).transpose(0, 2, 4, 1, 3, 5)
        sub = sub.reshape(jh, jw, cin, sh * sw * cout)
    else:
        sub = sub.transpose(0, 2, 1, 3, 4, 5).reshape(jh, jw, sh * sw * cin, cout)
    padding = [(-lo_h, jh - 1 + lo_h), (-lo_w, jw - 1 + lo_w)]
    return sub, padding


def conv_transpose_subpixel(
    x: Array, kernel: Array, strides: Sequence[int], precision: lax.PrecisionLike = None
) -> Array:
    """`lax.conv_transpose(x, kernel, strides, 'SAME')` as one stride-1 conv + depth-to-space."""
    firsts = [_same_pad_before(k, st) for k, st in zip(kernel.shape[:2], strides, strict=True)]
    sub, padding = _regroup_kernel(kernel, strides, firsts, phase_sign=-1)
    y = lax.conv_general_dilated(
        x, sub, (1, 1), padding, dimension_numbers=_DIMENSION_NUMBERS, precision=precision
    )
    (n, h, w, _), (sh, sw), cout = x.shape, strides, kernel.shape[-1]
    y = y.reshape(n, h, w, sh, sw, cout).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * sh, w * sw, cout)


def conv_subpixel(
    x: Array,
    kernel: Array,
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    precision: lax.PrecisionLike = None,
) -> Array:
    """A strided convolution as space-to-depth + one stride-1 convolution.

    Requires each spatial size to be a multiple of its stride and the output to be exactly
    input / stride (true of every strided convolution in this project); `DownConv` checks it.
    """
    (n, h, w, c), (sh, sw) = x.shape, strides
    x = x.reshape(n, h // sh, sh, w // sw, sw, c).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(n, h // sh, w // sw, sh * sw * c)
    sub, sub_padding = _regroup_kernel(kernel, strides, [p[0] for p in padding], phase_sign=1)
    return lax.conv_general_dilated(
        x, sub, (1, 1), sub_padding, dimension_numbers=_DIMENSION_NUMBERS, precision=precision
    )


def resolve_implementation(implementation: str, backend: str | None = None) -> str:
    """The implementation 'auto' stands for on `backend` (default: `jax.default_backend()`):
    `AUTO_IMPLEMENTATION`'s entry, 'native' for a backend it does not name."""
    if implementation not in STRIDED_CONVS:
        raise ValueError(f"implementation must be one of {STRIDED_CONVS}, got {implementation!r}")
    if implementation != "auto":
        return implementation
    return AUTO_IMPLEMENTATION.get(backend or jax.default_backend(), "native")


class _StridedConv(nn.Module):
    """Fields and parameters shared by `UpConv` and `DownConv`: those of `nn.Conv(Transpose)`."""

    features: int
    kernel_size: Sequence[int] = (5, 5)
    strides: int | Sequence[int] = (2, 2)
    padding: str | int = "SAME"
    use_bias: bool = True
    dtype: jnp.dtype | None = None
    param_dtype: jnp.dtype = jnp.float32
    precision: lax.PrecisionLike = None
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    implementation: str = "auto"

    def _parameters(self, inputs: Array) -> tuple[Array, Array, Array | None]:
        """(inputs, kernel, bias) in the compute dtype; called from `__call__`."""
        if inputs.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects NHWC inputs, got shape {inputs.shape}")
        kernel = self.param(
            "kernel",
            self.kernel_init,
            (*self.kernel_size, inputs.shape[-1], self.features),
            self.param_dtype,
        )
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        return promote_dtype(inputs, kernel, bias, dtype=self.dtype)


class UpConv(_StridedConv):
    """Drop-in for `nn.ConvTranspose(features, kernel_size, strides, padding='SAME')` on NHWC.

    Parameters ('kernel' (kh, kw, in, out), 'bias' (out,)) and their initialisation are those of
    `nn.ConvTranspose`, so checkpoints are interchangeable between implementations; only how the
    output is computed differs (see `resolve_implementation`).
    """

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        implementation = resolve_implementation(self.implementation)
        strides = (self.strides,) * 2 if isinstance(self.strides, int) else tuple(self.strides)
        if self.padding != "SAME" or np.shape(self.kernel_size) != (2,) or len(strides) != 2:
            raise ValueError(
                "UpConv supports 2-D kernels and strides with padding='SAME' only, got "
                f"kernel_size={self.kernel_size}, strides={self.strides}, padding={self.padding!r}"
            )
        inputs, kernel, bias = self._parameters(inputs)
        if implementation == "native":
            y = lax.conv_transpose(
                inputs,
                kernel,
                strides,
                "SAME",
                dimension_numbers=_DIMENSION_NUMBERS,
                precision=self.precision,
            )
        else:
            y = conv_transpose_subpixel(inputs, kernel, strides, self.precision)
        return y if bias is None else y + bias


class DownConv(_StridedConv):
    """Drop-in for `nn.Conv(features, kernel_size, strides, padding=p)` with stride > 1, NHWC.

    Same parameters and initialisation as `nn.Conv`. 'subpixel' computes the same function as
    space-to-depth + a stride-1 convolution: XLA's CPU backend takes up to 30x longer for the
    input gradient of a strided convolution than for its forward pass (8x8 -> 4x4 in the
    discriminators and the encoder), the stride-1 form does not. Shapes the form does not cover
    (sizes not a multiple of the stride) use the native convolution.
    """

    strides: Sequence[int] = (2, 2)
    padding: int = 2

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        implementation = resolve_implementation(self.implementation)
        inputs, kernel, bias = self._parameters(inputs)
        padding = [(self.padding, self.padding)] * 2
        sizes, kernel_sizes = inputs.shape[1:3], self.kernel_size
        exact = all(
            size % s == 0 and (size + 2 * self.padding - k) // s + 1 == size // s
            for size, k, s in zip(sizes, kernel_sizes, self.strides, strict=True)
        )
        if implementation == "subpixel" and exact:
            y = conv_subpixel(inputs, kernel, self.strides, padding, self.precision)
        else:
            y = lax.conv_general_dilated(
                inputs,
                kernel,
                tuple(self.strides),
                padding,
                dimension_numbers=_DIMENSION_NUMBERS,
                precision=self.precision,
            )
        return y if bias is None else y + bias


class ResizeUpConv(nn.Module):
    """Nearest-neighbour upsampling by `factor`, then a stride-1 'SAME' convolution.

    The alternative to a transposed convolution that Odena et al. ("Deconvolution and
    checkerboard artifacts", Distill 2016) give: a 5x5 stride-2 transposed convolution
    feeds the output pixels of its four phases from 9, 6, 6 and 4 input pixels, an uneven
    overlap that draws a checkerboard; here every output pixel sees the same number of taps.
    """

    features: int
    kernel_size: Sequence[int] = (3, 3)
    factor: int = 2
    use_bias: bool = True
    dtype: jnp.dtype | None = None
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        x = jnp.repeat(jnp.repeat(inputs, self.factor, axis=1), self.factor, axis=2)
        return nn.Conv(
            self.features,
            tuple(self.kernel_size),
            padding="SAME",
            use_bias=self.use_bias,
            dtype=self.dtype,
            kernel_init=self.kernel_init,
            name="Conv",
        )(x)
