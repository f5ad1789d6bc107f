#!/usr/bin/env bash
# Every method of docs/results/small_1000_steps/README.md on the small synthetic LookBook, on the CPU, with one
# schedule for all (schedule.sh; Adam except the SGD condition), then the report.
# Usage: docs/results/small_1000_steps/run_cpu.sh RUNS_DIR (about 95 minutes on 2 cores). A run whose work dir
# already holds its last checkpoint is only evaluated again, so an interrupted call can be repeated.
set -euo pipefail
runs=${1:?usage: $0 RUNS_DIR}
source "$(dirname "$0")/schedule.sh"
train() {  # train CONFIG NAME SEED [more overrides]
  local config=$1 name=$2 seed=$3
  shift 3
  python -m pldt_jax.main --config="configs/$config.py" --workdir="$runs/${name}_s$seed" \
    "${schedule[@]}" --config.seed="$seed" "$@"
}
for seed in 0 1; do
  train lookbook c_rf_dd "$seed" --config.optimizer.name=adam
  train c_mse c_mse "$seed" --config.optimizer.name=adam
  train c_rf c_rf "$seed" --config.optimizer.name=adam
  train c_rf_dd_neg c_rf_dd_neg "$seed" --config.optimizer.name=adam
  # Retrieval by DD-score: the C+RF+DD run's domain discriminator ranks the training products.
  rm -rf "$runs/retrieval_dd_s$seed"
  cp -r "$runs/c_rf_dd_s$seed" "$runs/retrieval_dd_s$seed"
  python -m pldt_jax.evaluate --workdir="$runs/retrieval_dd_s$seed" --method=retrieval
done
for seed in 0 1; do
  train ipt_only_a ipt_only_a "$seed" --config.optimizer.name=adam
  train ipt_sgd ipt_sgd "$seed"
  train ipt_resnet ipt_resnet "$seed" --config.optimizer.name=adam
  train ipt_resnet_128 ipt_resnet_128 "$seed" --config.optimizer.name=adam
done
train synthetic synthetic 0
python -m pldt_jax.report --workdirs "$runs"/*_s* --output docs/results/small_1000_steps
# PLDT Fig. 6, the reverse direction (product to photo), in its own report: a folder below, so
# that the glob above leaves it out.
for seed in 0 1; do
  train product_to_human reverse/product_to_human "$seed" --config.optimizer.name=adam
done
python -m pldt_jax.report --workdirs "$runs"/reverse/*_s* --output docs/results/small_1000_steps/product_to_human
