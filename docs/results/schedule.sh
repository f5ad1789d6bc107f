# The one schedule of docs/results/, sourced by run_cpu.sh: the paper's losses for each method
# on the medium synthetic LookBook, 1/8 width, resize upsampling (no checkerboard;
# docs/quality.md), Adam at 5e-4 (beta1 0.5), batch 32, 3,000 steps, validation every 1,000.
schedule=(
  --config.dataset.source=synthetic_medium --config.model.width=0.125
  --config.model.upsample=resize --config.optimizer.name=adam
  --config.optimizer.learning_rate=5e-4 --config.batch_size=32 --config.total_steps=3000
  --config.log_every_steps=100 --config.sample_every_steps=1000
  --config.checkpoint_every_steps=1000 --config.eval_every_steps=1000
)
