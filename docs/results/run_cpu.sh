#!/usr/bin/env bash
# PLDT Table 2 on the medium synthetic LookBook, on the CPU: C+MSE, C+RF, C+RF+DD-Neg, C+RF+DD,
# Retrieval by DD-score, and C+RF+DD with every candidate judged (loss.candidates='all'), one
# schedule for all (schedule.sh), 2 seeds each; then the report.
# Usage: docs/results/run_cpu.sh RUNS_DIR (about 75 minutes on 2 cores). A run whose work dir
# already holds its last checkpoint is only evaluated again, so an interrupted call can be repeated.
set -euo pipefail
runs=${1:?usage: $0 RUNS_DIR}
source "$(dirname "$0")/schedule.sh"
train() {  # train CONFIG NAME SEED [more overrides]
  local config=$1 name=$2 seed=$3 start=$SECONDS
  shift 3
  python -m pldt_jax.main --config="configs/$config.py" --workdir="$runs/${name}_s$seed" \
    "${schedule[@]}" --config.seed="$seed" "$@"
  echo "$name seed $seed: $((SECONDS - start)) s" | tee -a "$runs/wall_times.txt"
}
for seed in 0 1; do
  train c_mse c_mse "$seed"
  train lookbook c_rf_dd "$seed"
  train c_rf c_rf "$seed"
  train c_rf_dd_neg c_rf_dd_neg "$seed"
  train lookbook c_rf_dd_all "$seed" --config.loss.candidates=all \
    --config.name="C+RF+DD, all candidates"
  # Retrieval by DD-score: the C+RF+DD run's domain discriminator ranks the training products.
  rm -rf "$runs/retrieval_dd_s$seed"
  cp -r "$runs/c_rf_dd_s$seed" "$runs/retrieval_dd_s$seed"
  python -m pldt_jax.evaluate --workdir="$runs/retrieval_dd_s$seed" --method=retrieval
done
python -m pldt_jax.report --workdirs "$runs"/*_s* --output docs/results
