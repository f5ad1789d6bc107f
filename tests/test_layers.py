"""`UpConv` must be `nn.ConvTranspose(padding='SAME')` exactly, whatever its implementation.

Checkpoints are shared between implementations (CPU training, GPU inference), so the parameter
trees must be identical and outputs and gradients equal to float32 rounding.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pldt_jax.layers import UpConv, resolve_implementation

IMPLS = ("native", "subpixel")
# (batch, height, width, in channels, out channels, kernel, strides): the decoder's 5x5/2,
# DCGAN's 4x4/2, the residual decoder's 3x3/2, 2x2/2 (kernel <= stride) and 7x7/2, odd channel
# counts, non-square inputs and kernels, stride 3.
CASES = [
    (2, 4, 4, 8, 4, (5, 5), (2, 2)),
    (3, 5, 7, 3, 5, (5, 5), (2, 2)),
    (2, 6, 3, 7, 3, (4, 4), (2, 2)),
    (2, 1, 1, 5, 6, (4, 4), (2, 2)),
    (2, 4, 5, 3, 2, (5, 4), (3, 2)),
    (2, 3, 4, 2, 3, (3, 3), (2, 2)),
    (2, 3, 3, 2, 3, (2, 2), (2, 2)),
    (2, 4, 3, 3, 3, (7, 7), (2, 2)),
]


def _close(actual: jax.Array, expected: jax.Array, rtol: float = 1e-5) -> None:
    """Equal to `rtol` relative to the magnitude of `expected` (float32 rounding)."""
    expected = np.asarray(expected, np.float32)
    atol = rtol * max(float(np.abs(expected).max()), 1.0)
    np.testing.assert_allclose(np.asarray(actual, np.float32), expected, rtol=rtol, atol=atol)


def _value_and_grads(module: nn.Module, params: dict, x: jax.Array, cot: jax.Array) -> tuple:
    """Output and gradients of <output, cot> w.r.t. params and input, jitted (eager is slower)."""

    def run(params: dict, x: jax.Array) -> tuple:
        y, vjp = jax.vjp(module.apply, params, x)
        return y, vjp(cot)

    return jax.jit(run)(params, x)


@functools.cache
def _reference(case: tuple) -> tuple:
    """Params, input, cotangent (numpy-drawn: each jax.random shape compiles for ~1 s), and
    nn.ConvTranspose's output and gradients."""
    n, h, w, cin, cout, kernel, strides = case
    rng = np.random.default_rng(0)

    def normal(*shape: int) -> jax.Array:
        return jnp.asarray(rng.standard_normal(shape), jnp.float32)

    x = normal(n, h, w, cin)
    params = {"params": {"kernel": normal(*kernel, cin, cout) / cin**0.5, "bias": normal(cout)}}
    cot = normal(n, h * strides[0], w * strides[1], cout)
    ref = nn.ConvTranspose(cout, kernel, strides=strides, padding="SAME")
    return params, x, cot, _value_and_grads(ref, params, x, cot)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("impl", IMPLS)
def test_forward_and_gradients_match_conv_transpose(case: tuple, impl: str) -> None:
    params, x, cot, expected = _reference(case)
    layer = UpConv(case[4], case[5], case[6], implementation=impl)
    jax.tree.map(_close, _value_and_grads(layer, params, x, cot), expected)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_parameter_tree_identical_to_conv_transpose(impl: str, use_bias: bool) -> None:
    x = jnp.ones((2, 4, 4, 3))
    ref = nn.ConvTranspose(5, (5, 5), strides=2, padding="SAME", use_bias=use_bias)
    layer = UpConv(5, strides=2, use_bias=use_bias, implementation=impl)
    expected, got = ref.init(jax.random.key(3), x), layer.init(jax.random.key(3), x)
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    jax.tree.map(np.testing.assert_array_equal, got, expected)
    _close(layer.apply(got, x), ref.apply(expected, x))


@pytest.mark.parametrize("impl", IMPLS)
def test_bfloat16_compute(impl: str) -> None:
    params, x, cot, (expected, _) = _reference(CASES[1])
    layer = UpConv(CASES[1][4], implementation=impl, dtype=jnp.bfloat16)
    y, grads = _value_and_grads(layer, params, x, cot.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16
    assert jax.tree.map(lambda g: g.dtype, grads) == (
        {"params": {"kernel": jnp.float32, "bias": jnp.float32}},
        jnp.float32,
    )
    _close(y, expected, rtol=3e-2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": "VALID"},
        {"kernel_size": (5, 5, 5), "strides": (2, 2, 2)},
        {"kernel_size": 5},
        {"implementation": "fft"},
    ],
)
def test_unsupported_configurations_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        UpConv(4, **kwargs).init(jax.random.key(0), jnp.ones((1, 4, 4, 2)))


def test_unbatched_input_raises() -> None:
    with pytest.raises(ValueError, match="NHWC"):
        UpConv(4).init(jax.random.key(0), jnp.ones((4, 4, 2)))


def test_auto_choice_per_backend() -> None:
    assert resolve_implementation("auto", "cpu") == "subpixel"
    assert resolve_implementation("auto", "gpu") == "native"
    assert resolve_implementation("auto", "tpu") == "native"
    assert resolve_implementation("subpixel", "gpu") == "subpixel"
