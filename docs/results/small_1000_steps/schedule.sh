# The one schedule of docs/results/: sourced by run_cpu.sh and run_bf16_cpu.sh.
# 1/8 width, batch 32, 1,000 steps, Adam's rate 5e-4, on the small synthetic LookBook.
schedule=(
  --config.dataset.source=synthetic_small --config.model.width=0.125 --config.batch_size=32
  --config.total_steps=1000 --config.optimizer.learning_rate=5e-4 --config.log_every_steps=50
  --config.sample_every_steps=500 --config.checkpoint_every_steps=500
)
