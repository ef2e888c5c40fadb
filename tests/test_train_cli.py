"""End to end on a tiny model and tiny synthetic images: train -> checkpoint -> eval -> predict."""

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from helpers import TINY
from winwin.cli import main
from winwin.engine.checkpoint import load_checkpoint, save_checkpoint
from winwin.engine.config import ConfigError, load_config
from winwin.engine.train import train
from winwin.models import create_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = load_config(None, TINY + [f"out_dir={out}", "name=tiny"])
    return train(cfg, progress=False)


def test_run_folder_contents(run_dir):
    for name in (
        "config.yaml",
        "log.jsonl",
        "eval.json",
        "report.md",
        "report.png",
        "checkpoints/last.safetensors",
        "checkpoints/last.json",
        "checkpoints/step-00000003/model.optim.pt",
        "checkpoints/step-00000003/state.json",
        "scalars.csv",
    ):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["steps"] == 3 and saved["model"]["embed_dim"] == 32
    metrics = json.loads((run_dir / "eval.json").read_text())
    assert 0.0 <= metrics["miou"] <= 1.0 and metrics["images"] == 2
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    logs = [r for r in records if "lr" in r]  # training records; then the final evaluation's
    assert [r["step"] for r in logs] == [1, 2, 3]
    assert all(np.isfinite(r["loss"]) for r in logs)
    assert records[-1] == {"step": 3, "val_miou": metrics["miou"], "val_loss": metrics["loss"]}
    assert "mIoU" in (run_dir / "report.md").read_text()
    assert not list(run_dir.rglob("*.tmp"))  # atomic writes leave nothing behind


def test_second_run_gets_a_new_folder(run_dir):
    cfg = load_config(None, TINY + [f"out_dir={run_dir.parent}", "name=tiny", "train.steps=2"])
    other = train(cfg, progress=False)
    assert other != run_dir and other.name == "tiny-1"


def test_resume_continues_from_the_checkpoint(tmp_path):
    cfg = load_config(None, TINY + [f"out_dir={tmp_path}", "name=r", "train.steps=2"])
    first = train(cfg, progress=False)
    cfg = load_config(None, TINY + [f"out_dir={tmp_path}", "name=r", "train.steps=4", "train.resume=true"])
    assert train(cfg, progress=False) == first
    records = [json.loads(line) for line in (first / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "lr" in r] == [1, 2, 3, 4]
    assert [r["step"] for r in records if "val_loss" in r] == [2, 4]  # the first run's final evaluation, then ours


def test_checkpoint_round_trip_is_exact(tmp_path):
    model = create_model("demo", embed_dim=32, num_heads=2, depth=2, head="dpt", out_channels=5, temperature=1.2)
    save_checkpoint(tmp_path / "m", model, step=7)
    loaded, info = load_checkpoint(tmp_path / "m.safetensors")
    assert info["step"] == 7 and loaded.config == model.config
    assert all(a.temperature == 1.2 for a in loaded.attention_layers())
    x = torch.randn(1, 3, 48, 64)
    model.eval(), loaded.eval()
    assert torch.equal(model(x), loaded(x))


def test_eval_cli_and_temperature_override(run_dir, capsys, tmp_path):
    out = tmp_path / "m.json"
    assert main(["eval", str(run_dir), "--device", "cpu", "-o", str(out)]) == 0
    default = json.loads(out.read_text())
    assert default["temperature"] == 1.0
    assert default["miou"] == pytest.approx(json.loads((run_dir / "eval.json").read_text())["miou"])
    assert main(["eval", str(run_dir), "--device", "cpu", "--temperature", "3.0", "-o", str(out)]) == 0
    hot = json.loads(out.read_text())
    assert hot["temperature"] == 3.0 and hot["loss"] != pytest.approx(default["loss"])


def test_predict_cli_writes_a_colour_png(run_dir, tmp_path):
    rng = np.random.default_rng(0)
    image = tmp_path / "in.png"
    Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(image)  # not a multiple of 16
    out = tmp_path / "out.png"
    assert main(["predict", str(run_dir), str(image), "-o", str(out), "--device", "cpu"]) == 0
    pred = Image.open(out)
    assert pred.mode == "P" and pred.size == (70, 50)  # class ids, shown in the class colours
    assert set(np.unique(np.asarray(pred)).tolist()) <= set(range(8))
    palette = json.loads((run_dir / "checkpoints/last.json").read_text())["task"]["info"]["palette"]
    assert np.array_equal(np.array(pred.getpalette()[: 3 * 8]).reshape(8, 3), np.array(palette))
    viz = tmp_path / "viz.png"
    assert (
        main(
            ["predict", str(run_dir), str(image), "-o", str(tmp_path / "ids.npy"), "--viz", str(viz), "--device", "cpu"]
        )
        == 0
    )
    ids = np.load(tmp_path / "ids.npy")
    assert np.array_equal(ids, np.asarray(pred))  # the same prediction, raw
    assert np.array_equal(np.asarray(Image.open(viz)), np.array(palette, dtype=np.uint8)[ids])


def test_errors_before_any_work(tmp_path, capsys):
    with pytest.raises(ConfigError, match="at most 6 fit"):
        train(
            load_config(None, TINY + [f"out_dir={tmp_path}", "windows.num_windows=7", "windows.window_size=[2, 2]"]),
            progress=False,
        )
    with pytest.raises(ConfigError, match="task.num_classes is 19 but the dataset has 8 classes"):
        train(load_config(None, TINY + [f"out_dir={tmp_path}", "task.num_classes=19"]), progress=False)
    with pytest.raises(ConfigError, match="'model.num_classes' is now task.num_classes"):
        load_config(None, TINY + ["model.num_classes=19"])
    assert not any(tmp_path.iterdir())  # nothing was created
    assert main(["train", "/nonexistent.yaml"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", str(tmp_path)]) == 2


def test_a_checkpoint_from_before_tasks_still_loads(tmp_path):
    """Earlier checkpoints: model settings num_classes / head_dim, class names and palette at the top level."""
    from winwin.engine.checkpoint import load_task

    model = create_model("demo", embed_dim=32, num_heads=2, depth=2, head_width=8, out_channels=3)
    save_checkpoint(tmp_path / "old", model, step=5)
    meta = tmp_path / "old.json"
    info = json.loads(meta.read_text())
    cfg = info["model"]
    cfg["num_classes"], cfg["head_dim"] = cfg.pop("out_channels"), cfg.pop("head_width")
    cfg.pop("head_padding")
    info.update(classes=["a", "b", "c"], palette=[[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    meta.write_text(json.dumps(info))
    loaded, info = load_checkpoint(tmp_path / "old")
    task = load_task(info)
    assert loaded.config.out_channels == 3 and loaded.config.head_width == 8
    assert task.name == "segmentation" and task.settings.num_classes == 3 and task.info["classes"] == ["a", "b", "c"]
    x = torch.randn(1, 3, 32, 48)
    assert torch.equal(model.eval()(x), loaded.eval()(x))


def test_overrides_may_follow_options(tmp_path):
    argv = ["train", "configs/demo.yaml", "--quiet", *TINY, f"out_dir={tmp_path}", "name=late", "train.steps=1"]
    assert main(argv) == 0
    assert yaml.safe_load((tmp_path / "late" / "config.yaml").read_text())["train"]["steps"] == 1
    with pytest.raises(SystemExit):
        main(["train", "configs/demo.yaml", "--quiet", "--no-such-option"])
