"""Data-parallel training under torchrun (2 CPU processes, gloo): both processes end with the same weights,
equal to one process training on the same global batch; the pieces that make this so (the step stream,
window shares)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from winwin.engine.stream import StepBatches, window_generator
from winwin.windows import WindowSpec

# global batch 4: one process of 4 images, or two of 2; flips on, so per-image augmentation seeds matter
SETUP = [
    "model.arch=demo", "model.embed_dim=32", "model.num_heads=2", "model.depth=2", "model.head_width=8",
    "task.num_classes=8", "windows.mode=windows", "windows.num_windows=2", "windows.window_size=[2, 2]",
    "data.image_size=[64, 96]", "data.train_length=12", "data.val_length=3", "data.flip=true",
    "train.steps=3", "train.batch_size=4", "train.log_every=1", "train.ckpt_every=3", "train.threads=1",
    "train.device=cpu", "optim.warmup_steps=1", "optim.lr=0.001",
]  # fmt: skip


def _run(prefix: list[str], out, name: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [*prefix, "-m", "winwin", "train", "configs/demo.yaml", *SETUP, f"out_dir={out}", f"name={name}", "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    _run(torchrun, tmp_path, "two")
    _run([sys.executable], tmp_path, "one")
    two, one = tmp_path / "two", tmp_path / "one"
    info = json.loads((two / "checkpoints" / "last.json").read_text())
    prints = info["rank_fingerprints"]  # SHA-256 of each process's weights after the last step
    assert len(prints) == 2 and prints[0] == prints[1]
    a, b = load_file(one / "checkpoints" / "last.safetensors"), load_file(two / "checkpoints" / "last.safetensors")
    assert a.keys() == b.keys()
    changed = 0
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4, rtol=1e-4), k
        changed += not torch.equal(a[k], torch.zeros_like(a[k]))
    assert changed > 0
    # the logged loss is the mean over processes: the same as one process's over the global batch
    logs = [[json.loads(s) for s in (r / "log.jsonl").read_text().splitlines()] for r in (one, two)]
    assert [r["step"] for r in logs[0]] == [r["step"] for r in logs[1]] == [1, 2, 3, 3]  # 3 steps, the final eval
    for x, y in zip(*logs):
        for key in set(x) - {"images_per_s"}:
            assert x[key] == pytest.approx(y[key], rel=1e-4), key
    # only the main process wrote files; the evaluation merged both shares (3 images: 2 + 1)
    assert json.loads((two / "eval.json").read_text())["images"] == 3
    assert not list(tmp_path.glob("two-*"))


def test_process_shares_split_each_global_batch():
    whole = list(StepBatches(10, 4, seed=3, start=0, total=5))
    shares = [list(StepBatches(10, 4, seed=3, start=0, total=5, rank=r, world=2)) for r in range(2)]
    assert [step for step, _ in whole] == [0, 1, 2, 3, 4]
    for step in range(5):
        assert shares[0][step][1] + shares[1][step][1] == whole[step][1]
    # an epoch is a permutation: 2 full batches of 4 out of 10 images, never an image twice
    first_epoch = [i for _, batch in whole[:2] for i, _ in batch]
    assert len(set(first_epoch)) == 8
    # resuming at step 3 replays the same batches (index and augmentation seed)
    assert list(StepBatches(10, 4, seed=3, start=3, total=5)) == whole[3:]
    assert whole[0] != list(StepBatches(10, 4, seed=4, start=0, total=1))[0]


def test_a_global_batch_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match="multiple of 4"):
        StepBatches(32, 6, seed=0, start=0, total=1, rank=0, world=4)
    with pytest.raises(ValueError, match="larger than the dataset"):
        StepBatches(3, 4, seed=0, start=0, total=1)


def test_window_shares_are_rows_of_one_global_draw():
    spec = WindowSpec(mode="budget", token_budget=8, num_windows=2)
    whole = spec.sample((6, 8), 4, window_generator(0, 7))
    parts = [spec.sample((6, 8), 4, window_generator(0, 7)).part(r, 2) for r in range(2)]
    assert all(p.sizes == whole.sizes for p in parts)  # every process gets the same window sizes
    assert torch.equal(torch.cat([p.boxes for p in parts]), whole.boxes)
    assert torch.equal(torch.cat([p.index for p in parts]), whole.index)
    with pytest.raises(ValueError, match="divide evenly"):
        whole.part(0, 3)
