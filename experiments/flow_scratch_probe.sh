#!/usr/bin/env bash
# Issue 8 diagnostic: does the small flow model, trained from scratch on the embedded pairs, ever leave the
# zero-flow plateau (validation EPE = the EPE of predicting no motion, 11.17 px on the 50 validation pairs)?
# Long runs with the paper's token share (frame 1: 2 windows 6x6 = 25% of 12x24 tokens; frame 2: 4 windows
# 4x4, flow-guided, stochasticity 0.3), lr 1e-3, evaluated every 1000 steps (val_epe in log.jsonl).
# RoPE only (CroCo-Flow's architecture) and RoPE + an absolute cosine embedding (values then carry positions).
# Resumable: a run with a checkpoint continues from it (train.resume=true); a run with eval.json is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
WINWIN=${WINWIN:-.venv/bin/winwin}
STEPS=${STEPS:-8000}
probe() {  # name pos_embed
  if [ -f "runs/$1/eval.json" ]; then echo "skip $1"; return; fi
  local resume=false
  if [ -f "runs/$1/checkpoints/last.json" ]; then resume=true; else rm -rf "runs/$1"; fi
  OMP_NUM_THREADS=1 "$WINWIN" train configs/flow_demo.yaml "name=$1" "model.pos_embed=$2" optim.lr=1e-3 \
    "windows.window_size=[6,6]" "task.frame2_sizes=[[4,4],[4,4],[4,4],[4,4]]" "train.steps=$STEPS" \
    train.eval_every=1000 train.ckpt_every=500 train.threads=1 "train.resume=$resume" --quiet >> "runs/$1.log" 2>&1
}
mkdir -p runs
probe flow_probe_rope rope &
probe flow_probe_ropecos rope+cosine &
wait
