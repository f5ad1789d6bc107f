import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pldt_jax import config as config_lib
from pldt_jax import models


def shapes(module, channels, resolution=64):
    x = jnp.zeros((2, resolution, resolution, channels))
    variables = jax.eval_shape(lambda: module.init(jax.random.key(0), x, train=False))
    return jax.tree.map(lambda a: a.shape, variables["params"]), variables


def test_converter_parameters_match_table_1():
    params, _ = shapes(models.Converter(), 3)
    encoder, decoder = params["encoder"], params["decoder"]
    trunk = encoder["ConvTrunk_0"]
    assert trunk["Conv_0"] == {"kernel": (5, 5, 3, 128), "bias": (128,)}
    assert trunk["Conv_1"] == {"kernel": (5, 5, 128, 256)}
    assert trunk["Conv_2"] == {"kernel": (5, 5, 256, 512)}
    assert trunk["Conv_3"] == {"kernel": (5, 5, 512, 1024)}
    # Conv. 5: 4x4 (not the printed 1x1) to the 64-d code.
    assert encoder["Conv_0"] == {"kernel": (4, 4, 1024, 64)}
    assert decoder["Dense_0"] == {"kernel": (64, 4 * 4 * 1024)}
    assert decoder["UpConv_0"] == {"kernel": (5, 5, 1024, 512)}
    assert decoder["UpConv_1"] == {"kernel": (5, 5, 512, 256)}
    assert decoder["UpConv_2"] == {"kernel": (5, 5, 256, 128)}
    assert decoder["UpConv_3"] == {"kernel": (5, 5, 128, 3), "bias": (3,)}
    # Batch norm on every layer but the first encoder conv and the last decoder conv.
    assert sorted(k for k in trunk if k.startswith("BatchNorm")) == [
        "BatchNorm_0",
        "BatchNorm_1",
        "BatchNorm_2",
    ]
    assert len([k for k in decoder if k.startswith("BatchNorm")]) == 4


@pytest.mark.parametrize("channels", [3, 6])
def test_discriminator_parameters_match_table_1(channels):
    params, variables = shapes(models.Discriminator(), channels)
    trunk = params["ConvTrunk_0"]
    assert trunk["Conv_0"]["kernel"] == (5, 5, channels, 128)
    assert trunk["Conv_3"]["kernel"] == (5, 5, 512, 1024)
    assert params["Conv_0"] == {"kernel": (4, 4, 1024, 1), "bias": (1,)}
    assert "batch_stats" in variables


@pytest.mark.parametrize("resolution", [64, 128])
def test_output_shapes_and_ranges(resolution):
    converter = models.Converter(resolution=resolution, width=1 / 32)
    discriminator = models.Discriminator(resolution=resolution, width=1 / 32)
    x = jax.random.uniform(jax.random.key(1), (2, resolution, resolution, 3), minval=-1)
    variables = jax.jit(lambda x: converter.init(jax.random.key(0), x, train=False))(x)
    y = jax.jit(lambda v, x: converter.apply(v, x, train=False))(variables, x)
    assert y.shape == x.shape
    assert float(jnp.abs(y).max()) <= 1.0
    encode = lambda m, x: m.encoder(x, train=False)  # noqa: E731
    assert jax.eval_shape(lambda: converter.apply(variables, x, method=encode)).shape == (2, 64)
    d_vars = jax.eval_shape(lambda: discriminator.init(jax.random.key(0), x, train=False))
    logits = jax.eval_shape(lambda v: discriminator.apply(v, x, train=False), d_vars)
    assert logits.shape == (2,)


def test_128px_adds_one_stride_2_stage():
    assert models.stage_filters(64, 1.0) == (128, 256, 512, 1024)
    assert models.stage_filters(128, 1.0) == (64, 128, 256, 512, 1024)
    assert models.stage_filters(64, 0.125) == (16, 32, 64, 128)
    with pytest.raises(ValueError, match="resolution"):
        models.stage_filters(96, 1.0)


def test_weights_drawn_from_normal_0_02():
    model = models.Discriminator(width=0.25)
    x = jnp.zeros((1, 64, 64, 3))
    variables = jax.jit(lambda: model.init(jax.random.key(0), x, train=False))()
    kernel = variables["params"]["ConvTrunk_0"]["Conv_2"]["kernel"]
    assert abs(float(kernel.std()) - 0.02) < 0.002
    assert abs(float(kernel.mean())) < 0.002


def test_create_models_from_config():
    config = config_lib.default_config()
    config.model.width = 0.125
    converter, real_fake, domain = models.create_models(config)
    assert converter.width == real_fake.width == domain.width == 0.125
    assert real_fake.resolution == 64
    config.model.discriminator_width = 0.0625
    converter, real_fake, domain = models.create_models(config)
    assert converter.width == 0.125 and real_fake.width == domain.width == 0.0625
    config.model.converter = "unknown"
    with pytest.raises(ValueError, match="converter"):
        models.create_models(config)


def test_encoder_stage_convs_deepen_the_encoder_only():
    converter = models.Converter(width=1 / 32, encoder_stage_convs=2)
    params, _ = shapes(converter, 3)
    trunk = params["encoder"]["ConvTrunk_0"]
    stage_convs = sorted(k for k in trunk if k.startswith("StageConv"))
    assert stage_convs == [f"StageConv_{i}_{j}" for i in range(4) for j in range(2)]
    assert trunk["StageConv_0_0"] == {"kernel": (3, 3, 4, 4)}
    assert trunk["StageConv_3_1"] == {"kernel": (3, 3, 32, 32)}
    # Each followed by batch norm: the three of Table 1 and one per stage conv.
    assert len([k for k in trunk if k.startswith("BatchNorm")]) == 3 + 8
    plain, _ = shapes(models.Converter(width=1 / 32), 3)
    assert params["decoder"] == plain["decoder"]
    x = jax.random.uniform(jax.random.key(1), (2, 64, 64, 3), minval=-1)
    image, _ = converter.init_with_output(jax.random.key(0), x, train=False)
    assert image.shape == x.shape
    config = config_lib.default_config()
    config.model.encoder_stage_convs = 1
    converter, real_fake, _ = models.create_models(config)
    assert converter.encoder_stage_convs == 1
    assert "StageConv" not in str(shapes(real_fake, 3)[0])


def test_attention_pool_takes_the_colours_where_its_weights_look():
    """Uniform weights pool the photo's mean colour; weights on one cell pool that cell's
    area mean and features."""
    photo = jax.random.uniform(jax.random.key(0), (2, 64, 64, 3), minval=-1)
    features = jax.random.normal(jax.random.key(1), (2, 16, 16, 5))
    pooled, weights = models.attention_pool(photo, features, lambda f: jnp.zeros((*f.shape[:3], 2)))
    assert pooled.shape == (2, 2 * (3 + 5)) and weights.shape == (2, 16, 16, 2)
    np.testing.assert_allclose(weights.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(pooled[:, :3], photo.mean(axis=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(pooled[:, 3:8], features.mean(axis=(1, 2)), atol=1e-5)

    def one_cell(f):
        return jnp.zeros((*f.shape[:3], 1)).at[:, 5, 9].set(100.0)

    pooled, _ = models.attention_pool(photo, features, one_cell)
    np.testing.assert_allclose(pooled[:, :3], photo[:, 20:24, 36:40].mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(pooled[:, 3:], features[:, 5, 9], atol=1e-5)


@pytest.mark.parametrize("resolution", [64, 128])
def test_encoder_attention_heads_add_pooled_colours_to_the_code(resolution):
    """The heads look at the 16x16 stage at either resolution; their logits start at zero
    (uniform weights, sown to be drawn) and still learn: the code's gradient reaches them."""
    converter = models.Converter(resolution, width=1 / 32, code_dim=16, encoder_attention_heads=3)
    params, _ = shapes(converter, 3, resolution)
    encoder = params["encoder"]
    features = models.stage_filters(resolution, 1 / 32)[models.ATTENDED_STAGE]
    assert encoder["AttentionLogits"] == {"kernel": (1, 1, features, 3), "bias": (3,)}
    assert encoder["AttentionCode"] == {"kernel": (3 * (3 + features), 16)}
    plain, _ = shapes(models.Converter(resolution, width=1 / 32, code_dim=16), 3, resolution)
    assert params["decoder"] == plain["decoder"]
    assert plain["encoder"].keys() == encoder.keys() - {"AttentionLogits", "AttentionCode"}

    encoder = models.Encoder(models.stage_filters(resolution, 1 / 32), 16, attention_heads=3)
    photo = jax.random.uniform(jax.random.key(1), (2, resolution, resolution, 3), minval=-1)
    variables = encoder.init(jax.random.key(0), photo, train=False)
    _, sown = encoder.apply(variables, photo, train=False, mutable=["intermediates"])
    (weights,) = sown["intermediates"]["attention"]
    np.testing.assert_allclose(weights, 1 / 256, rtol=1e-5)
    assert weights.shape == (2, 16, 16, 3)

    def code_sum(logits):
        params = {**variables["params"], "AttentionLogits": logits}
        return encoder.apply({**variables, "params": params}, photo, train=False).sum()

    gradient = jax.grad(code_sum)(variables["params"]["AttentionLogits"])
    assert float(jnp.abs(gradient["kernel"]).max()) > 0
    config = config_lib.default_config()
    config.model.encoder_attention_heads = 2
    assert models.create_models(config)[0].encoder_attention_heads == 2


def test_resize_upsampling_replaces_every_transposed_convolution():
    params, _ = shapes(models.Converter(upsample="resize"), 3)
    decoder = params["decoder"]
    assert not any(k.startswith("UpConv") for k in decoder)
    assert decoder["ResizeUpConv_0"] == {"Conv": {"kernel": (3, 3, 1024, 512)}}
    assert decoder["ResizeUpConv_3"] == {"Conv": {"kernel": (3, 3, 128, 3), "bias": (3,)}}
    image = models.Converter(width=1 / 32, upsample="resize").init_with_output(
        jax.random.key(0), jnp.zeros((2, 64, 64, 3)), train=False
    )[0]
    assert image.shape == (2, 64, 64, 3)


def test_resize_upsampling_has_no_checkerboard_from_a_constant_map():
    """A constant input map stays constant away from the borders, unlike the 5x5 stride-2
    transposed convolution, whose four output phases sum different numbers of taps."""
    from pldt_jax.layers import ResizeUpConv, UpConv

    x = jnp.ones((1, 8, 8, 4))
    ones = jax.nn.initializers.ones
    resized = ResizeUpConv(2, kernel_init=ones, use_bias=False).init_with_output(
        jax.random.key(0), x
    )[0]
    transposed = UpConv(2, use_bias=False, kernel_init=ones, implementation="native")
    transposed = transposed.init_with_output(jax.random.key(0), x)[0]
    inner = (slice(None), slice(4, 12), slice(4, 12))
    assert float(jnp.ptp(resized[inner])) == 0.0
    assert float(jnp.ptp(transposed[inner])) > 0.0
