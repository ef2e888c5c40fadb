#!/usr/bin/env bash
# Runs that share a machine: one short demo run alone, then N of them started together, default settings
# (train.threads=0: each process takes its share of the cores). Prints each run's wall time.
#   usage: experiments/side_by_side.sh [N] [STEPS]     (default 2 runs, 60 steps of batch 4 on 64 images)
set -euo pipefail
n=${1:-2}
steps=${2:-60}
out=$(mktemp -d)
run() { /usr/bin/time -f "%e" -o "$out/$1.time" .venv/bin/winwin train configs/demo.yaml "train.steps=$steps" \
          train.batch_size=4 data.train_length=64 data.val_length=4 "train.ckpt_every=$steps" \
          "out_dir=$out" "name=$1" --quiet > "$out/$1.log" 2>&1; }
run alone
echo "alone: $(cat "$out/alone.time") s"
for i in $(seq 1 "$n"); do run "side$i" & done
wait
for i in $(seq 1 "$n"); do echo "side by side $i of $n: $(cat "$out/side$i.time") s"; done
grep -h "winwin:" "$out"/side*.log || true
rm -rf "$out"
