"""Strided transposed convolution ("fractionally-strided", PLDT Table 1) with a fast CPU path.

`flax.linen.ConvTranspose` lowers to `lax.conv_general_dilated` with `lhs_dilation`. XLA's CPU
backend computes its kernel gradient very slowly (forward+backward 10-115x the forward pass on the
decoder's layers, and at 4x4 input even the forward is ~35x slower than needed; see
`benchmarks/conv_transpose_cpu.py`). `UpConv` computes the same function from the same parameters
in sub-pixel form: one stride-1 convolution to stride**2 times the output channels, then
depth-to-space, which XLA's CPU backend runs 4-30x faster forward+backward.
(Inserting the zeros by hand before a stride-1 convolution was measured too and is slower still
than the native op backward, so it is not offered.)
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype
from jax import lax

Array = jax.Array

IMPLEMENTATIONS = ("auto", "native", "subpixel")
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def _same_pad_before(k: int, s: int) -> int:
    """Zeros `lax.conv_transpose(padding='SAME')` puts before the dilated input (per dim).

    Mirrors `jax._src.lax.convolution._conv_transpose_padding`; the rest of the total
    `k + s - 2` goes after, so the output is exactly `s` times the input.
    """
    return k - 1 if s > k - 1 else -(-(k + s - 2) // 2)


def _phase_taps(k: int, s: int) -> tuple[np.ndarray, int]:
    """Kernel tap feeding each (input offset, output phase) of a 'SAME' transposed conv.

    With `a` zeros before the dilated input, output `s*m + d` is the sum over offsets `j` of
    `x[m + j] @ kernel[s*j - d + a]`. Returns the (offsets, s) table of tap indices, with `k`
    (an index into a zero row appended to the kernel) where no tap exists, and the first offset.
    """
    a = _same_pad_before(k, s)
    lo = min(-((a - d) // s) for d in range(s))  # ceil((d - a) / s)
    hi = max((k - 1 + d - a) // s for d in range(s))
    taps = np.array([[s * j - d + a for d in range(s)] for j in range(lo, hi + 1)])
    return np.where((taps >= 0) & (taps < k), taps, k), lo


def subpixel_kernel(kernel: Array, strides: Sequence[int]) -> tuple[Array, list[tuple[int, int]]]:
    """Rearranges a (kh, kw, in, out) transposed-conv kernel into a stride-1 conv kernel.

    Returns the (jh, jw, in, sh*sw*out) kernel, output channels ordered (phase_y, phase_x, out),
    and the input padding that stride-1 convolution needs. Built with jnp ops from the canonical
    kernel, so gradients flow back to it.
    """
    (kh, kw, cin, cout), (sh, sw) = kernel.shape, strides
    taps_h, lo_h = _phase_taps(kh, sh)
    taps_w, lo_w = _phase_taps(kw, sw)
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
    # (jh, jw, sh, sw, in, out) -> (jh, jw, in, sh, sw, out)
    sub = padded[taps_h[:, None, :, None], taps_w[None, :, None, :]]
    sub = sub.transpose(0, 1, 4, 2, 3, 5).reshape(len(taps_h), len(taps_w), cin, sh * sw * cout)
    padding = [(-lo_h, len(taps_h) - 1 + lo_h), (-lo_w, len(taps_w) - 1 + lo_w)]
    return sub, padding


def conv_transpose_subpixel(
    x: Array, kernel: Array, strides: Sequence[int], precision: lax.PrecisionLike = None
) -> Array:
    """`lax.conv_transpose(x, kernel, strides, 'SAME')` as one stride-1 conv + depth-to-space."""
    sub, padding = subpixel_kernel(kernel, strides)
    y = lax.conv_general_dilated(
        x, sub, (1, 1), padding, dimension_numbers=_DIMENSION_NUMBERS, precision=precision
    )
    (n, h, w, _), (sh, sw), cout = x.shape, strides, kernel.shape[-1]
    y = y.reshape(n, h, w, sh, sw, cout).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * sh, w * sw, cout)


def resolve_implementation(implementation: str, backend: str | None = None) -> str:
    """The implementation 'auto' stands for on `backend` (default: `jax.default_backend()`).

    CPU: 'subpixel', measured faster than 'native' forward and forward+backward on every decoder
    layer (benchmarks/conv_transpose_cpu.py). Elsewhere: 'native', on the assumption that cuDNN
    and TPUs handle strided transposed convolutions well; not measured (no GPU was available).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    if implementation != "auto":
        return implementation
    return "subpixel" if (backend or jax.default_backend()) == "cpu" else "native"


class UpConv(nn.Module):
    """Drop-in for `nn.ConvTranspose(features, kernel_size, strides, padding='SAME')` on NHWC.

    Parameters ('kernel' (kh, kw, in, out), 'bias' (out,)) and their initialisation are those of
    `nn.ConvTranspose`, so checkpoints are interchangeable between implementations; only how the
    output is computed differs (see `resolve_implementation`).
    """

    features: int
    kernel_size: Sequence[int] = (5, 5)
    strides: int | Sequence[int] = (2, 2)
    padding: str = "SAME"
    use_bias: bool = True
    dtype: jnp.dtype | None = None
    param_dtype: jnp.dtype = jnp.float32
    precision: lax.PrecisionLike = None
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    implementation: str = "auto"

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        implementation = resolve_implementation(self.implementation)
        strides = (self.strides,) * 2 if isinstance(self.strides, int) else tuple(self.strides)
        if self.padding != "SAME" or np.shape(self.kernel_size) != (2,) or len(strides) != 2:
            raise ValueError(
                "UpConv supports 2-D kernels and strides with padding='SAME' only, got "
                f"kernel_size={self.kernel_size}, strides={self.strides}, padding={self.padding!r}"
            )
        if inputs.ndim != 4:
            raise ValueError(f"UpConv expects NHWC inputs, got shape {inputs.shape}")
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
        inputs, kernel, bias = promote_dtype(inputs, kernel, bias, dtype=self.dtype)
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
