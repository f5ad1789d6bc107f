"""config.validate: every impossible config is one ConfigError naming the key, before any JAX."""

import importlib.util
from pathlib import Path

import ml_collections
import pytest

from pldt_jax import config as config_lib

CONFIG_FILES = sorted((Path(__file__).parents[1] / "configs").glob("*.py"))


def problems(config: ml_collections.ConfigDict, device_count: int = 1) -> list[str]:
    with pytest.raises(config_lib.ConfigError) as error:
        config_lib.validate(config, device_count)
    found = error.value.problems
    assert all("\n" not in problem and problem in str(error.value) for problem in found)
    return found


def with_value(path: str, value: object) -> ml_collections.ConfigDict:
    """The default config with one setting replaced, its type check lifted."""
    config = config_lib.default_config()
    *groups, key = path.split(".")
    section = config
    for group in groups:
        section = section[group]
    with section.ignore_type():
        section[key] = value
    return config


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda path: path.stem)
def test_every_config_file_validates(path):
    spec = importlib.util.spec_from_file_location(f"configs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config_lib.validate(module.get_config(), device_count=2)


@pytest.mark.parametrize(
    "path, value",
    [
        ("optimizer.learning_rate", 0.0),
        ("optimizer.learning_rate", -1e-3),
        ("optimizer.learning_rate", float("nan")),
        ("batch_size", 0),
        ("batch_size", -8),
        ("num_epochs", 0),
        ("resolution", 96),
        ("dataset.source", "lookbook"),
        ("dataset.direction", "photo_to_product"),
        ("dataset.eval_split", "dev"),
        ("model.converter", "unet"),
        ("model.dtype", "float16"),
        ("model.strided_conv", "bilinear"),
        ("dataset.on_device", "maybe"),
        ("model.width", 0.0),
        ("model.discriminator_width", -0.125),
        ("model.code_dim", 0),
        ("model.encoder_stage_convs", -1),
        ("model.encoder_attention_heads", -1),
        ("loss.converter_loss", "wasserstein"),
        ("loss.candidates", "every"),
        ("loss.real_fake_weight", -0.5),
        ("loss.spectrum_weight", -1.0),
        ("loss.spectrum_min_frequency", -1),
        ("loss.silhouette_weight", -1.0),
        ("loss.texture_weight", -1.0),
        ("loss.texture_pool", 0),
        ("loss.cross_texture_weight", -1.0),
        ("loss.cross_texture_pool", 0),
        ("loss.color_moments_weight", -1.0),
        ("loss.color_moments_pool", 0),
        ("loss.feature_matching_weight", -1.0),
        ("loss.mse_pool", 0),
        ("optimizer.name", "rmsprop"),
        ("optimizer.decay_factor", 0.0),
        ("optimizer.momentum", 1.0),
        ("optimizer.weight_decay", -0.1),
        ("eval_method", "nearest"),
        ("log_every_steps", 0),
        ("sample_every_steps", 0),
        ("checkpoint_every_steps", -1),
        ("eval_every_steps", -1),
        ("num_sample_images", 0),
        ("eval_batch_size", 0),
        # Types, checked loosely: an int is a number, a bool is not.
        ("model.width", "wide"),
        ("batch_size", 12.5),
        ("batch_size", True),
        ("loss.use_negatives", 1),
        ("name", 3),
    ],
)
def test_a_bad_value_names_its_key(path, value):
    (problem,) = problems(with_value(path, value))
    assert path in problem and repr(value).strip("'") in problem


@pytest.mark.parametrize(
    "path",
    ["loss.mse_pool", "loss.texture_pool", "loss.cross_texture_pool", "loss.color_moments_pool"],
)
def test_a_pool_must_divide_the_resolution(path):
    (problem,) = problems(with_value(path, 3))
    assert f"{path} 3 does not divide the resolution 64" in problem
    config_lib.validate(with_value(path, 8), device_count=1)


@pytest.mark.parametrize("term", ["texture", "cross_texture"])
@pytest.mark.parametrize("lags", [(), (0, 4), (64,), (2.5,)])
def test_texture_lags_must_be_pixels_within_the_image(term, lags):
    config = with_value(f"loss.{term}_weight", 1.0)
    config.loss[f"{term}_lags"] = lags
    (problem,) = problems(config)
    assert f"loss.{term}_lags" in problem and repr(lags) in problem
    config.loss[f"{term}_lags"] = (1, 63)
    config_lib.validate(config, device_count=1)


@pytest.mark.parametrize("path", ["model.encoder_stage_convs", "model.encoder_attention_heads"])
def test_encoder_options_belong_to_the_dcgan_converter(path):
    config = with_value(path, 1)
    config_lib.validate(config, device_count=1)
    config.model.converter = "resnet"
    (problem,) = problems(config)
    assert path in problem and "resnet" in problem


def test_num_epochs_must_be_positive_even_with_total_steps():
    # The learning-rate decay sits at decay_epochs / num_epochs of the run either way.
    config = config_lib.default_config()
    config.total_steps, config.num_epochs = 100, 0
    (problem,) = problems(config)
    assert "num_epochs" in problem


def test_an_int_is_a_fine_float():
    config_lib.validate(with_value("optimizer.learning_rate", 1), device_count=1)


def test_misspelled_keys_get_the_nearest_real_one():
    config = config_lib.default_config()
    config.optimizer.learing_rate = 1e-3  # As a config file could write it.
    config.batchsize = 32
    config.optimizr = ml_collections.ConfigDict({"name": "sgd"})
    assert problems(config) == [
        "unknown config key 'batchsize' (did you mean 'batch_size'?)",
        "unknown config key 'optimizer.learing_rate' (did you mean 'optimizer.learning_rate'?)",
        "unknown config key 'optimizr' (did you mean 'optimizer'?)",
    ]


def test_missing_keys_and_groups_replaced_by_values_are_named():
    config = config_lib.default_config()
    del config.model["dtype"]
    with config.ignore_type():
        config.loss = 0.5
    assert problems(config) == [
        "loss must be a group of settings, got 0.5",
        "missing config key 'model.dtype'",
    ]


def test_batch_must_split_evenly_over_the_devices():
    config = config_lib.default_config()
    config.batch_size = 6
    config_lib.validate(config, device_count=2)
    (problem,) = problems(config, device_count=4)
    assert "batch_size" in problem and "6" in problem and "4" in problem


def test_some_loss_weight_must_be_positive():
    config = config_lib.default_config()
    config.loss.real_fake_weight = config.loss.domain_weight = config.loss.mse_weight = 0.0
    (problem,) = problems(config)
    assert all(key in problem for key in ("real_fake_weight", "domain_weight", "mse_weight"))


def test_warmup_needs_a_pixel_term_to_train_on():
    config = config_lib.default_config()
    config.loss.warmup_steps = 10
    (problem,) = problems(config)
    assert "warmup_steps" in problem and "mse_weight" in problem
    for term in [f"{name}_weight" for name in config_lib.PIXEL_TERMS if name != "mse"]:
        alone = config_lib.default_config()
        alone.loss.warmup_steps, alone.loss[term] = 10, 1.0
        config_lib.validate(alone, device_count=1)


@pytest.mark.parametrize(
    "matched, dropped",
    [
        ("real_fake", "real_fake_weight"),
        ("domain", "domain_weight"),
        ("both", "real_fake_weight"),
        ("both", "domain_weight"),
    ],
)
def test_feature_matching_needs_the_discriminators_it_matches(matched, dropped):
    config = config_lib.default_config()
    config.loss.feature_matching_weight = 10.0
    config.loss.feature_matching_discriminators = matched
    config_lib.validate(config, device_count=1)
    config.loss[dropped] = 0.0
    (problem,) = problems(config)
    assert "feature_matching_weight" in problem and dropped in problem


def test_feature_matching_on_the_domain_discriminator_alone_needs_no_real_fake_one():
    config = config_lib.default_config()
    config.loss.feature_matching_weight = 10.0
    config.loss.feature_matching_discriminators = "domain"
    config.loss.real_fake_weight = 0.0
    config_lib.validate(config, device_count=1)
    config.loss.feature_matching_discriminators = "neither"
    assert any("feature_matching_discriminators" in problem for problem in problems(config))


def test_retrieval_needs_a_trained_domain_discriminator():
    config = config_lib.default_config()
    config.eval_method = "retrieval"
    config.loss.domain_weight = 0.0
    (problem,) = problems(config)
    assert "eval_method" in problem and "domain_weight" in problem


def test_every_problem_is_listed_in_one_error():
    config = config_lib.default_config()
    config.optimizer.learning_rate = 0.0
    config.batch_size = 3
    config.resolution = 32
    config.model.converter = "unet"
    config.optimizer.learing_rate = 1e-3
    found = problems(config, device_count=2)
    assert len(found) == 5
    message = str(config_lib.ConfigError(found))
    assert message.startswith("5 problems in the config:\n")
    for key in ("optimizer.learning_rate", "batch_size", "resolution", "model.converter"):
        assert key in message
    assert "learing_rate" in message
