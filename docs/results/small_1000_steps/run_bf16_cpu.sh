#!/usr/bin/env bash
# bf16 mixed precision (convolutions in bfloat16, parameters and optimiser state in float32)
# against float32, on the embedded default's losses with the schedule of schedule.sh, 2 seeds
# each; then the report over every run. Usage: docs/results/small_1000_steps/run_bf16_cpu.sh RUNS_DIR, after
# run_cpu.sh RUNS_DIR (whose synthetic_s0 is the float32 seed 0; about 20 minutes on 2 cores).
set -euo pipefail
runs=${1:?usage: $0 RUNS_DIR}
source "$(dirname "$0")/schedule.sh"
python -m pldt_jax.main --config=configs/synthetic.py --workdir="$runs/synthetic_s1" \
  "${schedule[@]}" --config.seed=1
for seed in 0 1; do
  python -m pldt_jax.main --config=configs/synthetic.py --workdir="$runs/synthetic_bf16_s$seed" \
    "${schedule[@]}" --config.seed="$seed" --config.model.dtype=bfloat16 \
    --config.name="C+RF+DD+MSE (embedded default), bf16"
done
python -m pldt_jax.report --workdirs "$runs"/*_s* --output docs/results/small_1000_steps
