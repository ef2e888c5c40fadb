#!/usr/bin/env bash
# Training throughput of the demo config on this machine's CPU cores: one process with 2 threads against
# torchrun with 2 processes of 1 thread (gloo). Prints the median images/s of the logged records after the
# first (which holds the data generation).   usage: experiments/ddp_cpu_throughput.sh [STEPS]
set -euo pipefail
steps=${1:-100}
out=$(mktemp -d)
common=(configs/demo.yaml "train.steps=$steps" train.log_every=10 "train.ckpt_every=$steps" data.val_length=4
        train.device=cpu "out_dir=$out")
median() { .venv/bin/python -c "import json,statistics,sys; r=[json.loads(l) for l in open(sys.argv[1])]; \
v=[x['images_per_s'] for x in r if 'lr' in x][1:]; print(f'{statistics.median(v):.1f} images/s (median of {len(v)} records)')" "$1"; }
OMP_NUM_THREADS=2 .venv/bin/winwin train "${common[@]}" name=one train.threads=2 --quiet
echo "1 process x 2 threads: $(median "$out/one/log.jsonl")"
OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node=2 -m winwin train "${common[@]}" name=two train.threads=1 --quiet 2>/dev/null
echo "2 processes x 1 thread: $(median "$out/two/log.jsonl")"
rm -rf "$out"
