import re
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pldt_jax.resnet import ResNetConverter

TINY = 1 / 32


def encode(module, x):
    return module.encoder(x, train=False)


def blocks_per_stage(params) -> list[int]:
    stages = Counter(int(m[1]) for k in params if (m := re.fullmatch(r"stage(\d)_block\d+", k)))
    return [stages[s] for s in sorted(stages)]


def tiny_variables(converter, x):
    """Variables drawn on the host as the initialisers draw them (kernels N(0, 0.02), scales
    N(1, 0.02)): compiling `init` of 90 layers' random draws takes far longer than these tests."""
    shapes = jax.eval_shape(lambda: converter.init(jax.random.key(0), x, train=False))
    rng = np.random.default_rng(0)

    def draw(path, leaf):
        name = path[-1].key
        if name in ("kernel", "scale"):
            return jnp.asarray(rng.normal(name == "scale", 0.02, leaf.shape), leaf.dtype)
        return jnp.full(leaf.shape, name == "var", leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def run(f, *args):
    """`jax.jit(f)(*args)` without XLA's backend optimisations, which halve the compile time that
    dominates these tests."""
    compiled = jax.jit(f).lower(*args).compile({"xla_backend_optimization_level": 0})
    return compiled(*args)


@pytest.mark.parametrize("resolution", [64, 128])
def test_full_width_structure(resolution):
    converter = ResNetConverter(resolution)
    x = jax.ShapeDtypeStruct((2, resolution, resolution, 3), jnp.float32)
    variables = jax.eval_shape(lambda x: converter.init(jax.random.key(0), x, train=False), x)
    params = jax.tree.map(lambda a: a.shape, variables["params"])
    encoder, decoder = params["encoder"], params["decoder"]
    assert encoder["Conv_0"] == {"kernel": (7, 7, 3, 64)}
    assert blocks_per_stage(encoder) == [3, 4, 6, 3]
    assert encoder["stage1_block0"]["Conv_2"] == {"kernel": (1, 1, 64, 256)}
    assert encoder["stage4_block2"]["Conv_2"] == {"kernel": (1, 1, 512, 2048)}
    assert blocks_per_stage(decoder) == [3, 6, 4, 3]
    first, last = decoder["stage1_block0"], decoder["stage4_block2"]
    assert first["UpConv_0"] == {"kernel": (3, 3, 2048, 512)}
    assert first["UpConv_1"] == {"kernel": (2, 2, 2048, 512)}  # Projection shortcut.
    assert last["Conv_1"] == {"kernel": (3, 3, 64, 64)}
    # Final 7x7 to RGB: a convolution at 64 px, a stride-2 transposed one at 128 px.
    assert decoder["Conv_0" if resolution == 64 else "UpConv_0"] == {
        "kernel": (7, 7, 64, 3),
        "bias": (3,),
    }
    code = jax.eval_shape(lambda v, x: converter.apply(v, x, method=encode), variables, x)
    assert code.shape == (2, 4, 4, 2048)
    y = jax.eval_shape(lambda v, x: converter.apply(v, x, train=False), variables, x)
    assert y.shape == x.shape and y.dtype == jnp.float32


@pytest.mark.parametrize("resolution", [64, 128])
def test_tiny_forward_shapes_and_range(resolution):
    converter = ResNetConverter(resolution, width=TINY)
    x = jax.random.uniform(jax.random.key(1), (2, resolution, resolution, 3), minval=-1)
    variables = tiny_variables(converter, x)
    y = run(lambda v, x: converter.apply(v, x, train=False), variables, x)
    assert y.shape == x.shape
    assert bool(jnp.all(jnp.isfinite(y))) and float(jnp.abs(y).max()) <= 1.0
    code = jax.eval_shape(lambda v, x: converter.apply(v, x, method=encode), variables, x)
    assert code.shape == (2, 4, 4, 64)  # 2048 / 32.


def test_train_mode_updates_batch_stats_and_every_parameter_gets_gradient():
    converter = ResNetConverter(width=TINY)
    x = jax.random.uniform(jax.random.key(1), (2, 64, 64, 3), minval=-1)
    target = jax.random.uniform(jax.random.key(2), x.shape, minval=-1)
    variables = tiny_variables(converter, x)

    def loss(params, batch_stats):
        y, updates = converter.apply(
            {"params": params, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"]
        )
        return jnp.mean((y - target) ** 2), updates["batch_stats"]

    grads, batch_stats = run(
        jax.grad(loss, has_aux=True), variables["params"], variables["batch_stats"]
    )
    changed = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"], batch_stats
    )
    assert all(jax.tree.leaves(changed))
    flat = jax.tree_util.tree_flatten_with_path(grads)[0]
    assert len(flat) == len(jax.tree.leaves(variables["params"]))
    bad = [jax.tree_util.keystr(p) for p, g in flat if not (jnp.any(g) and jnp.isfinite(g).all())]
    assert not bad


def test_unsupported_resolution():
    with pytest.raises(ValueError, match="resolution"):
        ResNetConverter(96).init(jax.random.key(0), jnp.zeros((1, 96, 96, 3)))
