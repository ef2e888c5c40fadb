#!/usr/bin/env bash
# Issue 7 measurement: 2 windows of 5x5 vs one 7x7 crop (50 vs 49 of 288 tokens) on the embedded depth data,
# same steps, one run per seed (arguments; default 0 1 2), evaluated at full resolution in one forward pass. Runs
# two trainings at a time (one thread each) and skips runs whose eval.json exists, so it can be restarted.
# Results: runs/depth_demo*_s<seed>/eval.json; the table: python -m winwin.tools.compare_runs (docs/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
WINWIN=${WINWIN:-.venv/bin/winwin}
run() {  # config seed
  local name; name="$(basename "$1" .yaml)_s$2"
  if [ -f "runs/$name/eval.json" ]; then echo "skip $name"; return; fi
  rm -rf "runs/$name"
  OMP_NUM_THREADS=1 "$WINWIN" train "$1" "train.seed=$2" "name=$name" train.threads=1 --quiet > "runs/$name.log" 2>&1
}
mkdir -p runs
SEEDS=("$@"); [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
for seed in "${SEEDS[@]}"; do
  run configs/depth_demo.yaml "$seed" &
  run configs/depth_demo_crop.yaml "$seed" &
  wait
done
