"""python -m pldt_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic

The embedded default: the paper's C+RF+DD at 1/8 width on the medium synthetic LookBook
(2,400 products, built on first use), trained and evaluated on a 2-core CPU, data included
(the README has the measured times), with retrieval and the attribute proxies.
Departures from the paper, each for a CPU budget of 4,000 steps instead of its 16k, each
measured in docs/quality.md and each a config option whose paper setting stays available
(configs/lookbook.py has none of them):
- model.encoder_stage_convs = 1: a 3x3 stride-1 convolution after each of the encoder's
  stride-2 stages, which reads the garment's category from the small figure in 4,000 steps
  where Table 1's encoder does not;
- model.code_dim = 256 instead of 64: room in the code for the colours beside the shape,
  which the deeper encoder's 64 numbers hold less of;
- model.encoder_attention_heads = 4: four softmax weightings of the encoder's 16x16 positions
  pool the photo's colours and features into the code, so it reads the garment wherever the
  figure stands, where the convolutions alone carry its colours through four stages;
- model.upsample = 'resize': nearest-neighbour x2 + 3x3 convolution in the decoder instead
  of 5x5 stride-2 transposed convolutions, whose uneven overlap drew the dotted texture;
- loss.warmup_steps = 2500: the first 2,500 steps train the converter on the mean-square
  term alone (about half the cost of a full step), then the two discriminators join;
- loss.mse_weight = 100: the mean-square term stays beside the discriminators (as pix2pix
  keeps its L1 term), without which the adversarial game has not left its noisy start by then;
- loss.feature_matching_weight = 50 on the domain discriminator: pix2pixHD's
  feature-matching term asks every sample's output, beside its photo, to look like its
  product to it, where Algorithm 1's adversarial terms reach one sample in three ('both'
  adds the real/fake discriminator's, for a little more C-SSIM and half a minute more);
- loss.texture_weight = 3000 with loss.mse_pool = 4: a term on each 8x8 block's texture
  energy (how much the image varies across and down in it) asks for a pattern's stripes,
  checks or dots at whatever phase, which the photo does not show, and once the
  discriminators join, the mean-square term compares 4x4 block means, so it no longer asks
  for the stripes' blend; loss.texture_lags = (1, 2, 4) compares pixels 1, 2 and 4 px apart,
  so the stripes come out as broad as the product's, where at lag 1 alone faint thin lines
  do as well;
- loss.cross_texture_weight = 1000: a term on each 16x16 block's mixed differences (how much
  the image varies across and down together, at lags of 2, 4 and 8 px) asks for checks as
  squares at whatever phase, where the texture term is as content with a plaid of thin lines;
- Adam at 5e-4 instead of SGD at 2e-4;
- dataset.source = 'synthetic_medium': 2,181 training products instead of the small set's 542,
  which the converter learnt by heart, and 110 test products, so a score is not decided by 25.
"""

from pldt_jax.config import default_config


def get_config():
    config = default_config()
    config.name = "C+RF+DD+MSE+FM+T+CT (embedded default)"
    config.dataset.source = "synthetic_medium"
    config.model.width = 0.125
    config.model.encoder_stage_convs = 1
    config.model.code_dim = 256
    config.model.encoder_attention_heads = 4
    config.model.upsample = "resize"
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 5e-4
    config.loss.mse_weight = 100.0
    config.loss.warmup_steps = 2500
    config.loss.feature_matching_weight = 50.0
    config.loss.feature_matching_discriminators = "domain"
    config.loss.texture_weight = 3000.0
    config.loss.texture_lags = (1, 2, 4)
    config.loss.mse_pool = 4
    config.loss.cross_texture_weight = 1000.0
    config.batch_size = 32
    config.total_steps = 4000
    config.log_every_steps = 100
    config.sample_every_steps = 500
    config.checkpoint_every_steps = 1000
    config.eval_every_steps = 1000
    return config
