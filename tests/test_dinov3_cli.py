"""A DINOv3 file through the whole CLI: ``winwin train`` starts from it (train.init), the class and storage tokens
train with the windows, then ``eval``, ``calibrate`` (sweep and per-head) and ``predict`` on the full image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli
from winwin.engine.checkpoint import load_checkpoint
from winwin.models import load_dinov3

CKPT = Path(__file__).parent / "fixtures" / "dinov3" / "dinov3_tiny.pth"
SMALL = [
    "data.image_size=[64,96]", "data.train_length=4", "data.val_length=2", "train.steps=3", "train.batch_size=2",
    "train.log_every=1", "train.ckpt_every=3", "train.threads=1", "train.device=cpu", "optim.warmup_steps=1",
    "windows.window_size=[2,2]", "model.head_width=8",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dinov3")
    assert cli("train configs/dinov3_demo.yaml", *SMALL, f"train.init={CKPT}", f"out_dir={out}", "name=d --quiet") == 0
    return out / "d"


def test_training_starts_from_the_file_and_moves_every_part(run: Path) -> None:
    model, _ = load_checkpoint(run / "checkpoints" / "last")
    start = load_dinov3(CKPT).state_dict()
    trained = model.encoder.state_dict()
    assert set(trained) == set(start)
    moved = [k for k in start if not torch.equal(trained[k], start[k])]
    assert "prefix.cls_token" in moved and "prefix.storage_tokens" in moved and "blocks.0.ls1.gamma" in moved
    k_bias = trained["blocks.0.attn.qkv.bias"][64:128]
    assert torch.equal(k_bias, start["blocks.0.attn.qkv.bias"][64:128])  # the masked key bias gets no update


def test_eval_calibrate_predict(run: Path, tmp_path: Path) -> None:
    assert cli("eval", run, "--device cpu") == 0
    assert cli("calibrate", run, "--sweep 0.5:1.5:0.5 --learn --images 2 --steps 2 --quiet --device cpu") == 0
    stored = json.loads((run / "checkpoints" / "last.json").read_text())
    assert len(stored["model"]["head_temperatures"]) == 2  # one row per DINOv3 block
    image = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 100, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "pred.npy"
    assert cli("predict", run, image, "-o", out, "--device cpu") == 0
    assert np.load(out).shape == (70, 100)


def test_depth_from_the_file(tmp_path: Path) -> None:
    over = ["model.arch=dinov3_demo", "model.dpt_features=8", f"train.init={CKPT}"]
    assert cli("train configs/depth_demo.yaml", *SMALL, *over, f"out_dir={tmp_path}", "name=depth --quiet") == 0
    result = json.loads((tmp_path / "depth" / "eval.json").read_text())
    assert np.isfinite(result["abs_rel"]) and result["images"] == 2
