"""`UpConv` must be `nn.ConvTranspose(padding='SAME')` and `DownConv` `nn.Conv` exactly, whatever
their implementation.

Checkpoints are shared between implementations (CPU training, GPU inference), so the parameter
trees must be identical and outputs and gradients equal to float32 rounding.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pldt_jax.layers import AUTO_IMPLEMENTATION, DownConv, UpConv, resolve_implementation

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


def _random_problem(x_shape: tuple, kernel_shape: tuple, out_shape: tuple) -> tuple:
    """Params, input and cotangent, numpy-drawn (each jax.random shape compiles for ~1 s)."""
    rng = np.random.default_rng(0)

    def normal(*shape: int) -> jax.Array:
        return jnp.asarray(rng.standard_normal(shape), jnp.float32)

    cin, cout = kernel_shape[-2:]
    params = {"params": {"kernel": normal(*kernel_shape) / cin**0.5, "bias": normal(cout)}}
    return params, normal(*x_shape), normal(*out_shape)


@functools.cache
def _reference(case: tuple) -> tuple:
    """Params, input, cotangent, and nn.ConvTranspose's output and gradients."""
    n, h, w, cin, cout, kernel, strides = case
    params, x, cot = _random_problem(
        (n, h, w, cin), (*kernel, cin, cout), (n, h * strides[0], w * strides[1], cout)
    )
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
    # The GPU's entry is whatever benchmarks/gpu_suite.py measured faster (docs/performance.md).
    assert resolve_implementation("auto", "gpu") == AUTO_IMPLEMENTATION["gpu"]
    assert set(AUTO_IMPLEMENTATION.values()) <= {"native", "subpixel"}
    assert resolve_implementation("auto", "tpu") == "native"
    assert resolve_implementation("subpixel", "gpu") == "subpixel"


# (batch, height, width, in channels, out channels, kernel, strides, padding): Table 1's 5x5/2 at
# every stage (64 -> 4 px), the residual encoder's 3x3/2 and 1x1/2, a non-square input, stride 3,
# and an odd size the sub-pixel form does not cover (native fallback).
DOWN_CASES = [
    (2, 64, 64, 3, 4, (5, 5), (2, 2), 2),
    (2, 8, 8, 6, 5, (5, 5), (2, 2), 2),
    (3, 8, 4, 3, 2, (5, 5), (2, 2), 2),
    (2, 8, 8, 4, 3, (3, 3), (2, 2), 1),
    (2, 8, 8, 4, 3, (1, 1), (2, 2), 0),
    (2, 6, 9, 2, 3, (5, 5), (3, 3), 2),
    (2, 7, 7, 2, 3, (5, 5), (2, 2), 2),
]


@pytest.mark.parametrize("case", DOWN_CASES, ids=str)
@pytest.mark.parametrize("impl", IMPLS)
def test_down_conv_forward_and_gradients_match_conv(case: tuple, impl: str) -> None:
    n, h, w, cin, cout, kernel, strides, pad = case
    ref = nn.Conv(cout, kernel, strides=strides, padding=pad)
    out_shape = jax.eval_shape(
        ref.apply,
        {"params": {"kernel": jnp.ones((*kernel, cin, cout)), "bias": jnp.ones(cout)}},
        jnp.ones((n, h, w, cin)),
    ).shape
    params, x, cot = _random_problem((n, h, w, cin), (*kernel, cin, cout), out_shape)
    layer = DownConv(cout, kernel, strides, pad, implementation=impl)
    jax.tree.map(
        _close,
        _value_and_grads(layer, params, x, cot),
        _value_and_grads(ref, params, x, cot),
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_down_conv_parameter_tree_identical_to_conv(impl: str) -> None:
    x = jnp.ones((2, 8, 8, 3))
    ref = nn.Conv(5, (5, 5), strides=2, padding=2)
    layer = DownConv(5, implementation=impl)
    expected, got = ref.init(jax.random.key(3), x), layer.init(jax.random.key(3), x)
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    jax.tree.map(np.testing.assert_array_equal, got, expected)
