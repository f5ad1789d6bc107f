"""Every knob of a run, with the paper's values as defaults.

Experiment files under `configs/` start from `default_config()` and change what
their experiment changes, so a knob is documented once, here.
"""

import difflib
from collections.abc import Iterator
from typing import Any

import ml_collections

from pldt_jax import errors

# The allowed values of every setting that takes one of a few, in one place: `validate` checks
# them and the code that branches on a setting names them in its errors. The dataset's own
# (`dataset.source`, the splits) come from the dataset package, in `validate`.
DIRECTIONS = ("human_to_product", "product_to_human")  # dataset.direction
ON_DEVICE_SETTINGS = ("auto", "on", "off")  # dataset.on_device
RESOLUTIONS = (64, 128)  # resolution: the image sizes the networks are built for
CONVERTERS = ("dcgan", "resnet")  # model.converter
DTYPES = ("float32", "bfloat16")  # model.dtype
STRIDED_CONVS = ("auto", "native", "subpixel")  # model.strided_conv (layers.py)
UPSAMPLINGS = ("transposed", "resize")  # model.upsample
CONVERTER_LOSSES = ("non_saturating", "paper")  # loss.converter_loss
CANDIDATE_SCHEMES = ("sampled", "all")  # loss.candidates
# loss.feature_matching_discriminators: the discriminators each choice matches the features of.
FEATURE_MATCHED = {
    "real_fake": ("real_fake",),
    "domain": ("domain",),
    "both": ("real_fake", "domain"),
}
# The converter's pixel terms, in the order they are summed: each compares its output with the
# product alone, no discriminator involved (so they also make the warm-up); `loss.<name>_weight`
# > 0 adds `losses.pixel_terms`' distance of that name.
PIXEL_TERMS = ("mse", "silhouette", "texture", "cross_texture", "color_moments", "spectrum")
OPTIMIZERS = ("sgd", "adam")  # optimizer.name
EVAL_METHODS = ("converter", "retrieval")  # eval_method


def default_config() -> ml_collections.ConfigDict:
    """The PLDT paper's setup (section 5.2) on the real LookBook at 64 px."""
    config = ml_collections.ConfigDict()
    config.name = "C+RF+DD"  # The method, as the results table names it (PLDT Table 2).
    config.seed = 0

    config.dataset = ml_collections.ConfigDict()
    # 'real' (the LookBook archive, manual download), or the synthetic LookBook:
    # 'synthetic_small' (600 products), 'synthetic_medium' (2,400) or 'synthetic_full' (8,726).
    config.dataset.source = "real"
    config.dataset.data_dir = ""  # TFDS data dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
    config.dataset.manual_dir = ""  # Where lookbook.tar is; "" = <data_dir>/downloads/manual.
    config.dataset.redraw_negatives = True  # Fresh irrelevant products every epoch.
    config.dataset.direction = "human_to_product"  # or 'product_to_human' (paper Fig. 6).
    config.dataset.sample_split = "validation"  # Fixed photos shown in samples/step_<N>.png.
    config.dataset.eval_split = "test"
    # Keep the train split on the accelerator and gather batches there: 'auto' (when it fits
    # and there is one process), 'on', 'off' (the host gathers each batch).
    config.dataset.on_device = "auto"
    # Jitter of training pairs, not in the paper (augment.py): mirror photo and products
    # together, shift the photo by up to max_shift px.
    config.dataset.flip = False
    config.dataset.max_shift = 0

    config.resolution = 64  # 64 (the paper) or 128.

    config.model = ml_collections.ConfigDict()
    config.model.converter = "dcgan"  # 'dcgan' (PLDT Table 1) or 'resnet' (follow-up paper).
    config.model.width = 1.0  # Multiplies every filter count; 1.0 = Table 1.
    # The discriminators' own multiplier, 0 = model.width (the paper's networks share Table 1's
    # widths). Narrower discriminators make an adversarial step cheaper on a CPU.
    config.model.discriminator_width = 0.0
    config.model.code_dim = 64
    # 3x3 stride-1 convolutions (batch norm, leaky ReLU) after each of the encoder's stride-2
    # stages, 0 = Table 1's encoder: a deeper encoder reads the category from the photo in
    # fewer steps, but its 64-d code then holds less colour, so configs/synthetic.py pairs
    # it with model.code_dim = 256 (docs/quality.md).
    config.model.encoder_stage_convs = 0
    # > 0: that many attention heads pool the photo's colours and the encoder's 16x16
    # features over the positions they pick, into the code (models.attention_pool), so the
    # garment's colours reach it wherever the figure stands; 0 = Table 1's encoder.
    config.model.encoder_attention_heads = 0
    config.model.dtype = "float32"  # Compute dtype; 'bfloat16' for mixed precision.
    # How strided (transposed) convolutions are computed: 'auto', 'native', 'subpixel' (layers.py).
    config.model.strided_conv = "auto"
    # Decoder upsampling: 'transposed' (Table 1's 5x5 stride-2 transposed convolutions) or
    # 'resize' (nearest-neighbour x2 + 3x3 convolution: no checkerboard; not the paper's).
    config.model.upsample = "transposed"

    config.loss = ml_collections.ConfigDict()
    # The converter's loss weights; Eq. 6 gives each discriminator 1/2. A weight of 0
    # removes that discriminator altogether ("C+RF", "C+MSE").
    config.loss.real_fake_weight = 0.5
    config.loss.domain_weight = 0.5
    config.loss.use_negatives = True  # False = "C+RF+DD-Neg": no irrelevant products.
    config.loss.mse_weight = 0.0  # > 0 adds a mean-square term ("C+MSE" uses it alone).
    # k > 1: with the discriminators on, the mean-square term compares the images' k x k
    # area means, leaving finer detail (a pattern) to the discriminators; the warm-up still
    # compares pixels. Not the paper's (1).
    config.loss.mse_pool = 1
    # > 0 adds the mean-square distance of the amplitude spectra (losses.py), blind to a
    # pattern's phase; not the paper's.
    config.loss.spectrum_weight = 0.0
    config.loss.spectrum_min_frequency = 0  # Cycles per image below which it looks away.
    # > 0 adds the mean-square error of the images' silhouettes (losses.silhouette), so a
    # sleeve or a hood counts alike whatever its colour's contrast with the white background;
    # not the paper's.
    config.loss.silhouette_weight = 0.0
    # > 0 adds the mean-square distance of the images' texture energy (losses.texture_energy:
    # how much each texture_pool x texture_pool block varies across and down, between pixels
    # each of texture_lags apart), which asks for a pattern's stripes at whatever phase where
    # the mean-square term draws their blend; not the paper's.
    config.loss.texture_weight = 0.0
    config.loss.texture_pool = 8
    config.loss.texture_lags = (1,)
    # > 0 adds the mean-square distance of the images' cross energy (losses.cross_energy: how
    # much each cross_texture_pool x cross_texture_pool block varies across and down
    # together, at each of cross_texture_lags), which asks for checks where the texture term
    # is as content with a plaid of thin lines; not the paper's.
    config.loss.cross_texture_weight = 0.0
    config.loss.cross_texture_pool = 16
    config.loss.cross_texture_lags = (2, 4, 8)
    # > 0 adds the mean-square distance of the images' colour moments (losses.color_moments:
    # the mean of x, x^2 and x^3 in each color_moments_pool-square block, along each channel
    # and channel difference), which asks for a pattern's two colours at whatever phase where
    # the texture terms ask only for their contrast; not the paper's.
    config.loss.color_moments_weight = 0.0
    config.loss.color_moments_pool = 8
    # > 0 adds pix2pixHD's feature-matching term: the mean absolute difference of a
    # discriminator's normalised features on each sample's generated image and on its
    # product, a distance the discriminator learns (losses.feature_matching); not the paper's.
    config.loss.feature_matching_weight = 0.0
    # Whose features: 'real_fake' (of the product against the generated image), 'domain' (of
    # (photo, product) against (photo, generated image)) or 'both' (the two terms averaged).
    config.loss.feature_matching_discriminators = "real_fake"
    config.loss.converter_loss = "non_saturating"  # or 'paper' (Eq. 6 as printed).
    # Steps at the start that train the converter on the pixel terms (PIXEL_TERMS) alone,
    # the discriminators left out (a warm start, as SRGAN starts from its MSE-trained
    # generator); not the paper's, which trains all three from step 1 (0).
    config.loss.warmup_steps = 0
    # What the discriminators judge each step: 'sampled' = Algorithm 1, one candidate per
    # sample (its product, an irrelevant one or the generated image, drawn at random);
    # 'all' = the public ports' scheme (e.g. fxia22/PixelDTGAN), not Algorithm 1: every
    # candidate of every sample, 3B images (2B without negatives).
    config.loss.candidates = "sampled"

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"  # 'sgd' (momentum, the paper) or 'adam'.
    config.optimizer.learning_rate = 2e-4
    config.optimizer.momentum = 0.5  # SGD momentum, or Adam's beta1.
    config.optimizer.decay_epochs = 25  # Then the rate is multiplied by decay_factor.
    config.optimizer.decay_factor = 0.1
    # > 0 shrinks the convolution and dense kernels towards 0 each step, a regulariser the
    # papers do not use (0): AdamW's decoupled decay (rate x weight_decay x kernel) for
    # 'adam', the classic L2 term inside the momentum for 'sgd'. Biases and batch norm's
    # scales and offsets are left alone.
    config.optimizer.weight_decay = 0.0

    config.batch_size = 128  # Global batch, split over all devices.
    config.num_epochs = 30
    config.total_steps = -1  # > 0 overrides num_epochs (the decay scales with it).

    config.log_every_steps = 100
    config.sample_every_steps = 1000
    config.checkpoint_every_steps = 1000
    # Score the converter on the sample split (dataset.sample_split, the validation photos)
    # every this many steps and at the last: RMSE, C-SSIM, retrieval, Cat / Att, logged as
    # val/* in metrics.jsonl and TensorBoard. 0 = off.
    config.eval_every_steps = 1000
    config.max_checkpoints_to_keep = 3
    # A non-finite loss or gradient stops the run (keeping the last good checkpoint);
    # True skips such steps instead, counted as skipped_steps in the metrics.
    config.skip_nonfinite_steps = False
    config.num_sample_images = 16
    config.eval_batch_size = 256
    # 'converter', or 'retrieval' (PLDT Table 2 "Retrieval by DD-score": the training
    # product the trained domain discriminator scores highest for each test photo).
    config.eval_method = "converter"
    # Training steps of the attribute classifier behind the Cat / Att / realism proxies
    # (only on data with known attributes; trained once per dataset and cached). 0 = off.
    config.attribute_classifier_steps = 3200
    config.num_eval_examples = 16  # Test photos kept in eval/examples.npz for the report.
    return config


class ConfigError(errors.Error):
    """A config that cannot run; the message lists every problem, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems in the config:\n" + "\n".join(
                f"  {problem}" for problem in self.problems
            )
        super().__init__(message)


def validate(config: ml_collections.ConfigDict, device_count: int) -> None:
    """Raises one `ConfigError` listing every problem of `config`, before anything compiles.

    Keys are compared with `default_config()` (so a misspelling in a config file is
    caught, with the nearest real key), types loosely (an int is a fine float), and
    values against what the code accepts: a bad value would otherwise surface as a
    traceback from deep inside JAX, or after the dataset was built.
    """
    # Imported here, not at the top: the networks, the step and the benchmarks use this module
    # on machines without the dataset package.
    from pldt_jax_datasets.lookbook.lookbook_dataset_builder import SOURCES
    from pldt_jax_datasets.lookbook.pairing import SPLITS

    defaults = default_config()
    default_paths = list(_paths(defaults))
    problems: list[str] = []
    values: dict[str, Any] = {}

    def compare(section, default, prefix: str) -> None:
        for key, value in section.items():
            path = prefix + key
            if key not in default:
                close = difflib.get_close_matches(path, default_paths, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"unknown config key {path!r}{hint}")
            elif isinstance(default[key], ml_collections.ConfigDict):
                if isinstance(value, (ml_collections.ConfigDict, dict)):
                    compare(value, default[key], path + ".")
                else:
                    problems.append(f"{path} must be a group of settings, got {value!r}")
            elif not _same_kind(value, default[key]):
                problems.append(f"{path} must be {_describe(default[key])}, got {value!r}")
            else:
                values[path] = value
        problems.extend(
            f"missing config key {prefix + key!r}" for key in default if key not in section
        )

    compare(config, defaults, "")

    choices = {
        "dataset.source": SOURCES,
        "dataset.direction": DIRECTIONS,
        "dataset.on_device": ON_DEVICE_SETTINGS,
        "dataset.sample_split": SPLITS,
        "dataset.eval_split": SPLITS,
        "resolution": RESOLUTIONS,
        "model.converter": CONVERTERS,
        "model.dtype": DTYPES,
        "model.strided_conv": STRIDED_CONVS,
        "model.upsample": UPSAMPLINGS,
        "loss.converter_loss": CONVERTER_LOSSES,
        "loss.candidates": CANDIDATE_SCHEMES,
        "loss.feature_matching_discriminators": tuple(FEATURE_MATCHED),
        "optimizer.name": OPTIMIZERS,
        "eval_method": EVAL_METHODS,
    }
    for path, allowed in choices.items():
        if path in values and values[path] not in allowed:
            problems.append(f"{path} must be one of {allowed}, got {values[path]!r}")

    # Each pool's term compares whole pool x pool blocks: > 0, and dividing the resolution.
    pools = {
        "loss.mse_pool": "mean-square",
        "loss.texture_pool": "texture",
        "loss.cross_texture_pool": "cross texture",
        "loss.color_moments_pool": "colour moments",
    }
    positive = [
        "optimizer.learning_rate",
        "optimizer.decay_factor",
        "batch_size",
        # > 0 even with total_steps: the decay's place is decay_epochs / num_epochs.
        "num_epochs",
        "model.width",
        "model.code_dim",
        "log_every_steps",
        "sample_every_steps",
        "checkpoint_every_steps",
        "max_checkpoints_to_keep",
        "num_sample_images",
        "eval_batch_size",
        "num_eval_examples",
        *pools,
    ]
    problems.extend(
        f"{path} must be > 0, got {values[path]}"
        for path in positive
        if path in values and not values[path] > 0
    )
    pixel_terms = [f"loss.{name}_weight" for name in PIXEL_TERMS]
    weights = ["loss.real_fake_weight", "loss.domain_weight", *pixel_terms]
    problems.extend(
        f"{path} must be >= 0, got {values[path]}"
        for path in [
            *weights,
            "loss.feature_matching_weight",
            "optimizer.decay_epochs",
            "optimizer.weight_decay",
            "eval_every_steps",
            "dataset.max_shift",
            "loss.warmup_steps",
            "loss.spectrum_min_frequency",
            "model.discriminator_width",
            "model.encoder_stage_convs",
            "model.encoder_attention_heads",
        ]
        if path in values and not values[path] >= 0
    )
    if all(path in values for path in weights) and not any(values[path] > 0 for path in weights):
        problems.append(f"at least one of {', '.join(weights)} must be > 0, or nothing trains")
    if "optimizer.momentum" in values and not 0 <= values["optimizer.momentum"] < 1:
        problems.append(f"optimizer.momentum must be in [0, 1), got {values['optimizer.momentum']}")
    batch_size = values.get("batch_size", 0)
    if batch_size > 0 and batch_size % device_count:
        problems.append(
            f"batch_size {batch_size} is not divisible by the device count {device_count}: "
            "every device takes an equal part of the global batch"
        )
    if values.get("loss.warmup_steps", 0) > 0 and not any(
        values.get(path, 0) > 0 for path in pixel_terms
    ):
        problems.append(
            f"loss.warmup_steps trains the converter on the pixel terms ({', '.join(PIXEL_TERMS)}) "
            f"alone, which {' = '.join(pixel_terms)} = 0 leave empty"
        )
    resolution = values.get("resolution", 64)
    for path, term in pools.items():
        pool = values.get(path, 1)
        if pool > 0 and resolution % pool:
            problems.append(
                f"{path} {pool} does not divide the resolution {resolution}: the {term} term "
                "compares whole pool x pool blocks"
            )
    for term in ("texture", "cross_texture"):
        lags = values.get(f"loss.{term}_lags", ())
        if values.get(f"loss.{term}_weight", 0) > 0 and not (
            lags and all(isinstance(lag, int) and 0 < lag < resolution for lag in lags)
        ):
            problems.append(
                f"loss.{term}_lags must be whole numbers of pixels from 1 to {resolution - 1}, "
                f"got {lags!r}"
            )
    if values.get("loss.feature_matching_weight", 0) > 0:
        matched = FEATURE_MATCHED.get(values.get("loss.feature_matching_discriminators"), ())
        problems.extend(
            f"loss.feature_matching_weight compares the features of the discriminator that "
            f"{path} = 0 leaves out"
            for path in (f"loss.{name}_weight" for name in matched)
            if values.get(path) == 0
        )
    if values.get("model.converter") == "resnet":
        problems.extend(
            f"{path} changes the dcgan converter's encoder; the resnet converter has its own blocks"
            for path in ("model.encoder_stage_convs", "model.encoder_attention_heads")
            if values.get(path, 0) > 0
        )
    if values.get("eval_method") == "retrieval" and values.get("loss.domain_weight") == 0:
        problems.append(
            "eval_method 'retrieval' ranks products by the domain discriminator, "
            "which loss.domain_weight = 0 never trains"
        )
    if problems:
        raise ConfigError(problems)


def _paths(section: ml_collections.ConfigDict, prefix: str = "") -> Iterator[str]:
    """Every key of a config, groups and settings, as dotted paths."""
    for key, value in section.items():
        yield prefix + key
        if isinstance(value, ml_collections.ConfigDict):
            yield from _paths(value, prefix + key + ".")


def _same_kind(value: object, default: object) -> bool:
    """A loose type check: an int is a fine float, but a bool is no number."""
    if isinstance(value, bool) or isinstance(default, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _describe(default: object) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(type(default), type(default).__name__)
