"""Optical flow end to end on tiny models: the task's pieces, then train -> eval (full, tiling, resize) ->
calibrate (decoder attention included) -> predict a frame pair to .flo."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import TINY_FLOW, assert_close, cli
from winwin.data import read_flo
from winwin.engine.checkpoint import load_checkpoint, load_task
from winwin.engine.config import ConfigError, load_config
from winwin.engine.train import train
from winwin.inference import full_resolution
from winwin.tasks.flow import FlowSettings, FlowTask
from winwin.windows import Windows, WindowSpec


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train(load_config(None, TINY_FLOW + [f"out_dir={out}", "name=flow"]), progress=False)


def test_config_defaults_come_from_the_task():
    cfg = load_config(None, ["task.name=flow"])
    assert cfg.model.binocular and cfg.model.head == "dpt" and cfg.model.out_channels == 3
    assert cfg.data.name == "synthetic_flow" and cfg.task.frame2 == "guided" and cfg.task.stochasticity == 0.3
    assert load_config(None, ["task.name=flow", "task.loss=epe"]).model.out_channels == 2
    with pytest.raises(ConfigError, match="task.frame2 must be one of"):
        load_config(None, ["task.name=flow", "task.frame2=mirror"])
    with pytest.raises(ConfigError, match="does not apply to frame2=same"):
        load_config(None, ["task.name=flow", "task.frame2=same", "task.frame2_sizes=[[2, 2]]"])
    with pytest.raises(ConfigError, match="is a depth dataset"):
        load_config(None, ["task.name=flow", "data.name=synthetic_depth"])


def test_frame2_strategies():
    gen = torch.Generator().manual_seed(0)
    flow = torch.zeros(2, 2, 64, 96)
    flow[:, 0] = 32.0  # every pixel moves 2 tokens to the right
    valid = torch.ones(2, 64, 96, dtype=torch.bool)
    spec = WindowSpec(num_windows=2, window_size=[1, 2])
    guided = FlowTask(FlowSettings(stochasticity=0.0)).sample_windows(spec, (4, 6), flow, valid, gen)
    w1, w2 = guided
    assert w2.sizes == w1.sizes
    shifted = w1.boxes.clone()
    shifted[..., 1] += 2
    # the end points of a window 2 tokens to the right of the grid's last 2 columns fall outside: only
    # windows that can move fully are compared
    inside = (w1.boxes[..., 1] + 2 + w1.boxes[..., 3] <= 6).all(-1)
    assert torch.equal(occupied(w2)[inside], occupied_boxes(shifted, (4, 6))[inside])
    same = FlowTask(FlowSettings(frame2="same")).sample_windows(spec, (4, 6), flow, valid, gen)
    assert same[0] is same[1]
    sizes = [[1, 1]] * 3
    rand = FlowTask(FlowSettings(frame2="random", frame2_sizes=sizes)).sample_windows(spec, (4, 6), flow, valid, gen)
    assert rand[1].sizes == [(1, 1)] * 3
    assert FlowTask().sample_windows(WindowSpec(mode="full"), (4, 6), flow, valid, gen) is None


def occupied_boxes(boxes: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    out = torch.zeros(boxes.shape[0], *grid, dtype=torch.bool)
    for b, row in enumerate(boxes.tolist()):
        for top, left, h, w in row:
            out[b, top : top + h, left : left + w] = True
    return out


def occupied(w: Windows) -> torch.Tensor:
    return occupied_boxes(w.boxes, w.grid_hw)


def test_tile_weights_and_resize_scaling():
    t = FlowTask()
    out = torch.zeros(1, 3, 2, 2)
    out[:, 2, 0, 0] = 20.0  # a very unsure pixel: c' -> 4, weight 1/4
    weights = t.tile_weights(out)
    assert weights.shape == (1, 1, 2, 2) and weights[0, 0, 0, 0] == pytest.approx(0.25)
    assert weights[0, 0, 1, 1] == pytest.approx(1 / 2.125)  # c = 0: c' = 0.25 + 3.75 / 2
    flow = torch.ones(1, 3, 2, 2)
    back = t.rescale_output(flow, 0.5, 0.25)  # computed on an image 4x narrower, 2x shorter
    assert back[0, 0, 0, 0] == 4 and back[0, 1, 0, 0] == 2 and back[0, 2, 0, 0] == 1
    assert FlowTask(FlowSettings(loss="epe")).tile_weights(out[:, :2]) is None


def test_flow_scale_is_the_unit_of_the_flow_channels():
    out = torch.randn(2, 3, 5)  # (B, u v c, P)
    target, valid = 8 * torch.randn(2, 2, 5), torch.ones(2, 5, dtype=torch.bool)
    t1, t16 = FlowTask(FlowSettings(flow_scale=1.0)), FlowTask(FlowSettings(flow_scale=16.0))
    in_px = torch.cat([16 * out[:, :2], out[:, 2:]], dim=1)
    assert_close(t16.loss(out, target, valid), t1.loss(in_px, target, valid))
    assert_close(t16.predict(out), 16 * out[:, :2])
    assert_close(t16.in_pixels(out)[:, 2], out[:, 2])  # the confidence is not a flow
    with pytest.raises(ConfigError, match="flow_scale must be > 0"):
        load_config(None, ["task.name=flow", "task.flow_scale=0"])


def test_run_folder_and_report(run):
    metrics = json.loads((run / "eval.json").read_text())
    assert {"epe", "1px", "3px", "5px", "fl_all", "s0-10", "s10-40", "s40+", "loss"} <= set(metrics)
    assert metrics["epe"] > 0 and 0 <= metrics["5px"] <= metrics["3px"] <= metrics["1px"] <= 100
    info = json.loads((run / "checkpoints" / "last.json").read_text())
    assert info["task"]["settings"]["frame2"] == "guided" and info["model"]["binocular"]
    report = (run / "report.md").read_text()
    assert "| epe | 1px | 3px | 5px | fl_all | s0-10 | s10-40 | s40+ |" in report
    assert (run / "report.png").stat().st_size > 0


def test_eval_with_each_inference_strategy(run, tmp_path):
    results = {}
    for name, extra in [("full", ""), ("tiling", "--inference tiling --tile 32x48 --overlap 0.5"),
                        ("resize", "--inference resize --tile 32x48")]:  # fmt: skip
        out = tmp_path / f"{name}.json"
        assert cli("eval", run, "--device cpu --quiet -o", out, extra) == 0
        results[name] = json.loads(out.read_text())
    assert results["full"]["epe"] == pytest.approx(json.loads((run / "eval.json").read_text())["epe"], rel=1e-5)
    assert results["tiling"]["inference"] == "tiles of 32x48, overlap 0.5"
    assert len({round(r["epe"], 6) for r in results.values()}) == 3  # three different predictions
    assert cli("eval", run, "--inference tiling --quiet --device cpu") == 2  # no tile size: refused before any work


def test_predict_a_frame_pair_to_flo_and_a_picture(run, tmp_path):
    rng = np.random.default_rng(1)
    frames = []
    for i in range(2):
        frames.append(tmp_path / f"f{i}.png")
        Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(frames[-1])
    flo, viz = tmp_path / "f.flo", tmp_path / "f.png"
    assert cli("predict", run, frames[0], frames[1], "-o", flo, "--viz", viz, "--device cpu") == 0
    model, info = load_checkpoint(run / "checkpoints" / "last")
    from winwin.data.transforms import load_image

    inputs = [load_image(f)[None] for f in frames]
    expected = load_task(info).predict(full_resolution(model, inputs))[0].permute(1, 2, 0).numpy()  # (H, W, 2)
    flow = read_flo(flo)
    assert flow.shape == (50, 70, 2) and np.allclose(flow, expected, atol=1e-5)
    assert np.asarray(Image.open(viz).convert("RGB")).shape == (50, 70, 3)
    assert cli("predict", run, frames[0], "-o", flo, "--device cpu") == 2  # one frame for a two-frame task
    assert cli("predict", run, frames[0], frames[1], "-o", tmp_path / "f.jpg", "--device cpu") == 2  # not a flow format


def test_calibrate_covers_the_decoder_attention(run, tmp_path):
    model, _ = load_checkpoint(run / "checkpoints" / "last")
    layers = model.attention_layers()
    assert len(layers) == 2 + 2 * 2  # encoder self-attention, decoder self- and cross-attention
    assert cli("calibrate", run, "--learn --steps 2 --images 2 --quiet --device cpu --out", tmp_path / "c") == 0
    info = json.loads((run / "checkpoints" / "last.json").read_text())
    rows = info["model"]["head_temperatures"]
    assert len(rows) == len(layers) and all(len(r) == 2 for r in rows)
    assert any(abs(v - 1.0) > 1e-6 for v in rows[-1])  # the last cross-attention's heads were learned too


def test_tiling_blends_by_confidence():
    """With a model whose output is constant per tile, overlapping tiles blend by 1 / c'."""
    from winwin.inference import tiled

    class Const(torch.nn.Module):
        def forward(self, a, b):  # a: (B, 3, h, w); each tile predicts its mean colour as flow and conf
            m = a.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
            return m.expand(-1, 3, *a.shape[-2:]).clone()

    img = torch.zeros(1, 3, 8, 12)
    img[..., 6:] = 1.0  # right tile brighter
    out = tiled(Const(), FlowTask(), [img, img], (8, 8), 0.5)  # tiles at x = 0 and 4, overlap on 4..8
    left, right = img[..., :8].mean(), img[..., 4:].mean()
    wl, wr = (FlowTask().tile_weights(torch.full((1, 3, 1, 1), float(v)))[0, 0, 0, 0] for v in (left, right))
    assert wl != wr
    assert_close(out[0, 0, 0, 0], left)
    assert_close(out[0, 0, 0, 11], right)
    assert_close(out[0, 0, 0, 5], (left * wl + right * wr) / (wl + wr), atol=1e-6)


def test_random_single_tokens_with_a_linear_head():
    """Appendix C's variant: random single tokens in frame 1 (and flow-guided single tokens in frame 2),
    trained with a linear head since there is no feature map for a convolution."""
    from winwin.engine.step import Batch, batch_loss
    from winwin.models import create_model

    torch.manual_seed(0)
    task = FlowTask(FlowSettings(frame2_sizes=[[1, 1]] * 5))
    model = create_model(
        "demo", embed_dim=32, num_heads=2, depth=2, binocular=True, decoder_dim=32, decoder_heads=2,
        decoder_depth=1, head="linear", out_channels=3,
    )  # fmt: skip
    flow = torch.randn(2, 2, 64, 96) * 8
    valid = torch.ones(2, 64, 96, dtype=torch.bool)
    spec = WindowSpec(mode="random_tokens", token_budget=6)
    windows = task.sample_windows(spec, (4, 6), flow, valid, torch.Generator().manual_seed(0))
    assert windows[0].sizes == [(1, 1)] * 6 and windows[1].sizes == [(1, 1)] * 5
    batch = Batch([torch.randn(2, 3, 64, 96), torch.randn(2, 3, 64, 96)], flow, valid)
    loss = batch_loss(task, model, batch, windows)
    loss.backward()
    assert torch.isfinite(loss) and model.head.proj.weight.grad is not None


@pytest.mark.parametrize("task_name", ["flow", "depth"])
def test_training_starts_from_a_croco_checkpoint(tmp_path, task_name, capsys):
    """``train.init`` loads a CroCo file: encoder and decoder for flow, the encoder for a monocular task."""
    from pathlib import Path

    from winwin.models.croco import croco_to_winwin, read_croco

    croco = Path(__file__).parent / "fixtures" / "croco" / "croco_tiny.pth"
    sizes = ["model.embed_dim=64", "model.depth=2", "model.num_heads=4", "model.decoder_dim=32",
             "model.decoder_depth=2", "model.decoder_heads=2", f"train.init={croco}", "train.steps=1",
             "optim.lr=1e-12", "optim.min_lr=0"]  # fmt: skip
    base = TINY_FLOW if task_name == "flow" else [o for o in TINY_FLOW if not o.startswith("task.")]
    base = base + ([] if task_name == "flow" else ["task.name=depth"])
    run_dir = train(load_config(None, base + sizes + [f"out_dir={tmp_path}", "name=init"]), progress=False)
    assert ("encoder and decoder" if task_name == "flow" else "encoder from") in capsys.readouterr().out
    model, _ = load_checkpoint(run_dir / "checkpoints" / "last")
    expected = croco_to_winwin(read_croco(croco)[0])
    ours = model.state_dict()
    for key in ["encoder.blocks.1.attn.qkv.weight", "decoder.blocks.0.cross_attn.kv.weight"]:
        if key.startswith("decoder") and task_name != "flow":
            assert key not in ours
            continue
        assert_close(ours[key], expected[key], atol=1e-6)  # a step at lr 1e-12 leaves the weights as loaded


def test_benchmark_submission_trees(run, tmp_path):
    from test_flow_datasets import KITTI_HW, SINTEL_SCENES, make_chairs, make_kitti, make_sintel

    from winwin.data import read_kitti_flow

    make_sintel(tmp_path / "sintel")
    out = tmp_path / "sub"
    sintel = ("--data sintel --root", tmp_path / "sintel", "--option pass_name=final --quiet --device cpu -o", out)
    assert cli("submit", run, *sintel) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.flo"))
    expected = [f"final/{s}/frame_{n:04d}.flo" for s, frames in sorted(SINTEL_SCENES.items()) for n in range(1, frames)]
    assert written == expected
    assert read_flo(out / expected[0]).shape == (8, 12, 2)
    make_kitti(tmp_path / "kitti")
    kitti = ("--data kitti_flow --root", tmp_path / "kitti", "--quiet --device cpu -o", tmp_path / "k")
    assert cli("submit", run, *kitti) == 0
    for n, hw in KITTI_HW.items():
        flow, valid = read_kitti_flow(tmp_path / "k" / "flow" / f"{n:06d}_10.png")
        assert flow.shape == (*hw, 2) and valid.all()
    make_chairs(tmp_path / "chairs")
    chairs = ("--data flying_chairs --split val --device cpu --root", tmp_path / "chairs", "-o", tmp_path / "x")
    assert cli("submit", run, *chairs) == 2 and not (tmp_path / "x").exists()  # no submission format


def test_eval_on_sintel_prints_its_table(run, tmp_path, capsys):
    from test_flow_datasets import make_sintel

    make_sintel(tmp_path / "sintel")
    data = (
        "data.name=sintel",
        "data.root=" + str(tmp_path / "sintel"),
        "data.val_split=training",
        "data.image_size=null",
    )
    assert cli("eval", run, *data, "--quiet --device cpu -o", tmp_path / "m.json") == 0
    printed = capsys.readouterr().out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["images"] == 3 and "EPE matched" in printed and "epe_unmatched" in metrics
    assert f"{metrics['epe_matched']:.3f}" in printed


def test_checkpoints_from_before_flow_scale_keep_predicting_pixels():
    from winwin.engine.checkpoint import load_task

    saved = {"task": {"settings": {"name": "flow", "frame2": "same"}}}  # no flow_scale: trained in pixels
    assert load_task(saved).settings.flow_scale == 1.0
    saved["task"]["settings"]["flow_scale"] = 8.0
    assert load_task(saved).settings.flow_scale == 8.0


def test_eval_on_spring_scores_the_2x_ground_truth(run, tmp_path, capsys):
    from test_flow_datasets import make_spring

    from winwin.cli import main

    make_spring(tmp_path / "spring")
    root = "data.root=" + str(tmp_path / "spring")
    data = ["data.name=spring", root, "data.val_split=train", "data.image_size=null", "data.options={full_gt: true}"]
    assert main(["eval", str(run), *data, "--quiet", "--device", "cpu", "-o", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    printed = capsys.readouterr().out
    assert "Spring" in printed and f"{metrics['2x_epe']:.3f}" in printed
    # a 2x2 block counts when any of its 4 pixels is valid: at least the subsampled pixels
    assert metrics["2x_count"] >= metrics["count"] > 0
