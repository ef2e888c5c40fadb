#!/usr/bin/env bash
# Issue 8 measurement, the paper's Table 3 ordering at CPU scale on the embedded flow data: frame-2 windows
# guided by the flow (2 | 4 windows, stochasticity 0.3, configs/flow_demo.yaml) vs the same windows in both
# frames (configs/flow_demo_same.yaml) vs one window (a crop, configs/flow_demo_crop.yaml), same steps, one
# run per seed (arguments; default 0 1), evaluated on full pairs in one forward. Two trainings at a time (one
# thread each); runs whose eval.json exists are skipped, so the script can be restarted.
# INIT=croco.pth starts every run from a CroCo-format file (e.g. from `winwin pretrain configs/flow_pretrain.yaml`,
# as the paper starts from CroCo's weights); the run names then end in _init. STEPS overrides train.steps;
# TAG is appended to the run names (another series of the same configs).
# Results: runs/flow_demo*_s<seed>[_init]/eval.json; the table: python -m winwin.tools.compare_runs (docs/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
WINWIN=${WINWIN:-.venv/bin/winwin}
INIT=${INIT:-}
STEPS=${STEPS:-2000}
TAG=${TAG:-}
export WINWIN INIT STEPS TAG
run() {  # config seed
  local name; name="$(basename "$1" .yaml)_s$2${INIT:+_init}${TAG:-}"
  local extra=("train.steps=$STEPS")
  if [ -n "$INIT" ]; then extra+=("train.init=$INIT"); fi
  if [ -f "runs/$name/eval.json" ]; then echo "skip $name"; return; fi
  rm -rf "runs/$name"
  OMP_NUM_THREADS=1 "$WINWIN" train "$1" "train.seed=$2" "name=$name" "${extra[@]}" train.threads=1 --quiet > "runs/$name.log" 2>&1
  echo "done $name"
}
export -f run
mkdir -p runs
SEEDS=("$@"); [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1)
for seed in "${SEEDS[@]}"; do
  for config in configs/flow_demo.yaml configs/flow_demo_same.yaml configs/flow_demo_crop.yaml; do
    echo "$config $seed"
  done
done | xargs -P 2 -L 1 bash -c 'run "$0" "$1"'
