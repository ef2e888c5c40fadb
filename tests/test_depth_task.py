"""Monocular depth end to end on tiny models: the task's pieces, then train -> eval -> calibrate -> predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import TINY_DEPTH, cli
from winwin.cli import main
from winwin.engine.checkpoint import load_checkpoint, load_task
from winwin.engine.config import ConfigError, load_config
from winwin.engine.step import Batch, batch_loss
from winwin.engine.train import train
from winwin.inference import full_resolution
from winwin.models import create_model
from winwin.tasks.depth import DepthSettings, DepthTask, silog_loss
from winwin.windows import sample_windows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train(load_config(None, TINY_DEPTH + [f"out_dir={out}", "name=depth"]), progress=False)


def task(**kw) -> DepthTask:
    return DepthTask(DepthSettings(**kw), {"min_depth": 0.5, "max_depth": 50.0})


def test_config_defaults_come_from_the_task():
    cfg = load_config(None, ["task.name=depth"])
    assert cfg.model.head == "dpt" and cfg.model.out_channels == 1 and cfg.data.name == "synthetic_depth"
    assert cfg.model.head_padding == "replicate" and load_config(None, []).model.head_padding == "zeros"
    assert load_config(None, ["task.name=depth", "model.head=convnext"]).model.head == "convnext"
    with pytest.raises(ConfigError, match="silog_lambda must be in"):
        load_config(None, ["task.name=depth", "task.silog_lambda=1.5"])
    with pytest.raises(ConfigError, match="needs 1"):
        load_config(None, ["task.name=depth", "model.out_channels=3"])


def test_valid_pixels_are_finite_and_inside_the_range():
    depth = torch.tensor([[[0.0, 0.4, 0.6, 10.0, 49.0, 50.0, float("nan"), float("inf")]]])  # (1, 1, 8)
    valid = task().valid({"depth": depth})
    assert valid.tolist() == [[[False, False, True, True, True, False, False, False]]]


def test_prediction_is_the_exponential_of_the_output():
    out = torch.tensor([[[[0.0, 1.0], [-1.0, 100.0]]]])  # (1, 1, 2, 2) log depth
    pred = task().predict(out)
    assert pred.shape == (1, 2, 2) and torch.isfinite(pred).all() and (pred > 0).all()
    assert pred[0, 0].tolist() == pytest.approx([1.0, np.e]) and pred[0, 1, 0] == pytest.approx(np.exp(-1))


def test_window_loss_uses_only_the_window_pixels():
    torch.manual_seed(0)
    model = create_model("demo", embed_dim=32, num_heads=2, depth=2, head="dpt", dpt_features=8, out_channels=1)
    image = torch.randn(1, 3, 64, 96)
    depth = torch.rand(1, 64, 96) * 10 + 1
    t = task()
    windows = sample_windows((4, 6), 2, (2, 2), 1, torch.Generator().manual_seed(0))
    mask = torch.zeros(4, 6, dtype=torch.bool)
    for top, left, h, w in windows.boxes[0].tolist():
        mask[top : top + h, left : left + w] = True
    pixel_mask = mask.repeat_interleave(16, 0).repeat_interleave(16, 1)[None]  # (1, 64, 96)
    other = torch.where(pixel_mask, depth, torch.full_like(depth, 33.0))  # differs only outside the windows

    @torch.no_grad()
    def loss(d):
        return float(batch_loss(t, model, Batch([image], d, t.valid({"depth": d})), windows))

    assert loss(depth) == loss(other)
    # And it is the SILog of the window pixels, computed by hand from the model's window outputs.
    with torch.no_grad():
        outs = model(image, windows)
    crops = [
        depth[:, top * 16 : (top + h) * 16, left * 16 : (left + w) * 16]
        for top, left, h, w in windows.boxes[0].tolist()
    ]
    pred = torch.cat([o[:, 0].flatten(1) for o in outs], 1)
    target = torch.cat([c.flatten(1) for c in crops], 1)
    assert loss(depth) == pytest.approx(
        float(silog_loss(pred, target, torch.ones_like(target, dtype=torch.bool))), rel=1e-5
    )


def test_run_folder_and_report(run):
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics["images"] == 2 and {"abs_rel", "sq_rel", "rmse", "rmse_log", "d1", "d2", "d3", "loss"} <= set(
        metrics
    )
    assert 0 <= metrics["d1"] <= metrics["d2"] <= metrics["d3"] <= 1 and metrics["abs_rel"] > 0
    info = json.loads((run / "checkpoints" / "last.json").read_text())
    assert info["task"] == {
        "settings": {
            "name": "depth",
            "loss": "silog",
            "silog_lambda": 0.85,
            "min_depth": None,
            "max_depth": None,
            "eigen_crop": False,
            "median_scaling": False,
        },
        "info": {"min_depth": 0.5, "max_depth": 50.0},
    }
    report = (run / "report.md").read_text()
    assert "| abs_rel | sq_rel | rmse | rmse_log | d1 | d2 | d3 |" in report and "depth range 0.5 to 50 m" in report


def test_eval_cli_matches_the_run(run, tmp_path):
    out = tmp_path / "m.json"
    assert main(["eval", str(run), "--device", "cpu", "-o", str(out)]) == 0
    again, first = json.loads(out.read_text()), json.loads((run / "eval.json").read_text())
    assert again["abs_rel"] == pytest.approx(first["abs_rel"]) and again["d1"] == pytest.approx(first["d1"])


def test_predict_writes_millimetres_npy_and_a_picture(run, tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(image)
    png, npy, viz = tmp_path / "d.png", tmp_path / "d.npy", tmp_path / "v.png"
    assert main(["predict", str(run), str(image), "-o", str(png), "--viz", str(viz), "--device", "cpu"]) == 0
    assert main(["predict", str(run), str(image), "-o", str(npy), "--device", "cpu"]) == 0
    model, info = load_checkpoint(run / "checkpoints" / "last")
    from winwin.data.transforms import load_image

    expected = load_task(info).predict(full_resolution(model, [load_image(image)[None]]))[0].numpy()  # (H, W) m
    metres = np.load(npy)
    assert metres.dtype == np.float32 and metres.shape == (50, 70) and np.allclose(metres, expected, rtol=1e-5)
    mm = np.asarray(Image.open(png))
    assert mm.dtype == np.uint16 and mm.shape == (50, 70)
    assert np.abs(mm.astype(np.float64) - np.clip(expected * 1000, 0, 65535)).max() <= 0.5 + 1e-3
    assert np.asarray(Image.open(viz).convert("RGB")).shape == (50, 70, 3)


def test_calibrate_depth_by_loss_and_by_the_primary_metric(run, tmp_path):
    assert cli("calibrate", run, "--sweep 0.5:1.5:0.5 --images 2 --quiet --device cpu --out", tmp_path / "a") == 0
    rows = (tmp_path / "a" / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("temperature,loss,abs_rel") and len(rows) == 4
    assert (
        cli(
            "calibrate",
            run,
            "--sweep 0.5:1.5:0.5 --select metric --images 2 --quiet --device cpu --out",
            tmp_path / "b",
        )
        == 0
    )
    info = json.loads((run / "checkpoints" / "last.json").read_text())
    curve = [dict(zip(rows[0].split(","), map(float, r.split(",")))) for r in rows[1:]]
    best = min(curve, key=lambda r: r["abs_rel"])  # lower is better for abs_rel
    assert info["calibration"]["sweep"]["criterion"] == "abs_rel"
    assert info["model"]["temperature"] == best["temperature"]


@pytest.mark.parametrize("head", ["linear", "convnext", "dpt"])
def test_every_head_trains_depth_on_windows(head):
    torch.manual_seed(0)
    model = create_model(
        "demo", embed_dim=32, num_heads=2, depth=2, head=head, head_width=8, dpt_features=8, out_channels=1
    )
    t = task()
    depth = torch.rand(2, 64, 96) * 10 + 1
    batch = Batch([torch.randn(2, 3, 64, 96)], depth, t.valid({"depth": depth}))
    windows = sample_windows((4, 6), 2, (2, 2), 2, torch.Generator().manual_seed(0))
    loss = batch_loss(t, model, batch, windows)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert torch.isfinite(loss) and all(g is not None and torch.isfinite(g).all() for g in grads)
    with torch.no_grad():
        full = t.predict(model(batch.inputs[0]))
    assert full.shape == (2, 64, 96) and (full > 0).all()


def test_bench_train_runs_for_depth(capsys):
    args = ["bench", "train", "--task", "depth", "--model", "demo", "--head", "dpt", "--image-size", "64", "96",
            "--window-size", "2", "--batch-size", "2", "--steps", "1", "--threads", "1", "--device", "cpu",
            "--windows", "2", "4"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "task depth" in out and "2 windows 2x2" in out and "4 windows 1x1" in out and "1 crop 3x3" in out
    assert "head share" in out and "% of peak" in out
