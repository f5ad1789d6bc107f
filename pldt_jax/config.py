"""Every knob of a run, with the paper's values as defaults.

Experiment files under `configs/` start from `default_config()` and change what
their experiment changes, so a knob is documented once, here.
"""

import ml_collections


def default_config() -> ml_collections.ConfigDict:
    """The PLDT paper's setup (section 5.2) on the real LookBook at 64 px."""
    config = ml_collections.ConfigDict()
    config.name = "C+RF+DD"  # The method, as the results table names it (PLDT Table 2).
    config.seed = 0

    config.dataset = ml_collections.ConfigDict()
    # 'real' (the LookBook archive, manual download), 'synthetic_small' or 'synthetic_full'.
    config.dataset.source = "real"
    config.dataset.data_dir = ""  # TFDS data dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
    config.dataset.manual_dir = ""  # Where lookbook.tar is; "" = <data_dir>/downloads/manual.
    config.dataset.redraw_negatives = True  # Fresh irrelevant products every epoch.
    config.dataset.direction = "human_to_product"  # or 'product_to_human' (paper Fig. 6).
    config.dataset.sample_split = "validation"  # Fixed photos shown in samples/step_<N>.png.
    config.dataset.eval_split = "test"

    config.resolution = 64  # 64 (the paper) or 128.

    config.model = ml_collections.ConfigDict()
    config.model.converter = "dcgan"  # 'dcgan' (PLDT Table 1) or 'resnet' (follow-up paper).
    config.model.width = 1.0  # Multiplies every filter count; 1.0 = Table 1.
    config.model.code_dim = 64
    config.model.dtype = "float32"  # Compute dtype; 'bfloat16' for mixed precision.
    config.model.upsample = "auto"  # Transposed-conv implementation: 'auto', 'native', 'subpixel'.

    config.loss = ml_collections.ConfigDict()
    # The converter's loss weights; Eq. 6 gives each discriminator 1/2. A weight of 0
    # removes that discriminator altogether ("C+RF", "C+MSE").
    config.loss.real_fake_weight = 0.5
    config.loss.domain_weight = 0.5
    config.loss.use_negatives = True  # False = "C+RF+DD-Neg": no irrelevant products.
    config.loss.mse_weight = 0.0  # > 0 adds a mean-square term ("C+MSE" uses it alone).
    config.loss.converter_loss = "non_saturating"  # or 'paper' (Eq. 6 as printed).

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"  # 'sgd' (momentum, the paper) or 'adam'.
    config.optimizer.learning_rate = 2e-4
    config.optimizer.momentum = 0.5  # SGD momentum, or Adam's beta1.
    config.optimizer.decay_epochs = 25  # Then the rate is multiplied by decay_factor.
    config.optimizer.decay_factor = 0.1

    config.batch_size = 128  # Global batch, split over all devices.
    config.num_epochs = 30
    config.total_steps = -1  # > 0 overrides num_epochs (the decay scales with it).

    config.log_every_steps = 100
    config.sample_every_steps = 1000
    config.checkpoint_every_steps = 1000
    config.max_checkpoints_to_keep = 3
    config.num_sample_images = 16
    config.eval_batch_size = 256
    # 'converter', or 'retrieval' (PLDT Table 2 "Retrieval by DD-score": the training
    # product the trained domain discriminator scores highest for each test photo).
    config.eval_method = "converter"
    config.num_eval_examples = 16  # Test photos kept in eval/examples.npz for the report.
    return config
