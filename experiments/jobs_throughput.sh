#!/usr/bin/env bash
# What `winwin reproduce --jobs 2` gains on this machine: images/s of one demo run with every core against
# two runs side by side with half the cores each, for the flow and the segmentation demo (64 cached training
# images, no evaluation), with the fp32 matrix-multiply peak measured first. Run it on an idle machine.
#   usage: experiments/jobs_throughput.sh [STEPS]      (default 120 steps of batch 16)
set -euo pipefail
steps=${1:-120}
cores=$(.venv/bin/python -c "from winwin.engine.threads import available_cores; print(available_cores())")
half=$(( cores / 2 > 0 ? cores / 2 : 1 ))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/python -c "
import torch
from winwin.tools.flops import matmul_peak
torch.set_num_threads($cores)
print(f'fp32 matmul peak: {matmul_peak(torch.device(\"cpu\"), torch.float32) / 1e9:.1f} GFLOP/s on $cores threads')"
run() {  # config name threads
  .venv/bin/winwin train "configs/$1.yaml" data.train_length=64 data.val_length=2 "train.steps=$steps" \
    train.log_every=20 train.eval_every=0 "train.ckpt_every=$steps" train.num_workers=0 "train.threads=$3" \
    "out_dir=$out" "name=$2" --quiet > "$out/$2.out" 2>&1
}
rate() {  # mean images/s of the run's last three log records
  .venv/bin/python -c "
import json, sys
r = [json.loads(l)['images_per_s'] for l in open('$out/$1/log.jsonl') if 'images_per_s' in l][-3:]
print(f'{sum(r) / len(r):.1f}')"
}
for config in flow_demo demo; do
  run "$config" "$config-alone" "$cores"
  run "$config" "$config-a" "$half" & run "$config" "$config-b" "$half" & wait
  alone=$(rate "$config-alone"); a=$(rate "$config-a"); b=$(rate "$config-b")
  .venv/bin/python -c "print(f'$config: one run, $cores threads: $alone images/s; two runs, $half each: $a + $b = {$a + $b:.1f} ({($a + $b) / $alone:.2f}x)')"
done
