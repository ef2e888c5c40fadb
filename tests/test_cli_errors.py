"""Bad input at the command line, tried as a new user would: every command that reads user files prints one
line naming the file and the problem on stderr and exits with status 2, for every task; nothing is written."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from helpers import TINY, TINY_DEPTH
from winwin.cli import main
from winwin.engine.config import load_config
from winwin.engine.train import train


@pytest.fixture(scope="module", params=["segmentation", "depth"])
def run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    overrides = TINY if request.param == "segmentation" else TINY_DEPTH
    return train(load_config(None, overrides + [f"out_dir={out}", "name=r", "train.steps=1"]), progress=False)


def bad_files(folder):
    """name -> path of files a user might give as an image by mistake."""
    folder.mkdir(exist_ok=True)
    (folder / "notes.png").write_text("not an image at all\n")
    rgb = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "ok.jpg", quality=90)
    data = (folder / "ok.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(rgb).save(folder / "ok.png")
    png = (folder / "ok.png").read_bytes()
    (folder / "truncated.png").write_bytes(png[: len(png) // 3])
    (folder / "empty.png").write_bytes(b"")
    return {name: folder / name for name in ("notes.png", "truncated.jpg", "truncated.png", "empty.png", "missing.png")}


def one_line_error(capsys, name: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and name in err, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("bad", ["notes.png", "truncated.jpg", "truncated.png", "empty.png", "missing.png"])
def test_predict_on_a_bad_image_exits_2_with_one_line(run, tmp_path, capsys, bad):
    path = bad_files(tmp_path / "in")[bad]
    out = tmp_path / "out.png"
    assert main(["predict", str(run), str(path), "-o", str(out), "--device", "cpu"]) == 2
    err = one_line_error(capsys, bad)
    expected = {"notes.png": "not an image", "empty.png": "not an image", "missing.png": "no such file"}
    assert expected.get(bad, "truncated") in err
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_predict_checks_the_output_before_reading(run, tmp_path, capsys):
    good = bad_files(tmp_path / "in")["notes.png"].with_name("ok.png")
    assert main(["predict", str(run), str(good), "-o", str(tmp_path / "out.txt"), "--device", "cpu"]) == 2
    assert "writes .png or .npy" in one_line_error(capsys, "out.txt")
    assert main(["predict", str(run), str(good), str(good), "-o", str(tmp_path / "o.png"), "--device", "cpu"]) == 2
    assert "from 1 image(s), got 2" in one_line_error(capsys, "error")
    viz = ["--viz", str(tmp_path / "v.jpg"), "--device", "cpu"]
    assert main(["predict", str(run), str(good), "-o", str(tmp_path / "o.png"), *viz]) == 2
    one_line_error(capsys, "v.jpg")


@pytest.mark.parametrize("damage", ["truncated weights", "garbage json", "missing json"])
def test_a_damaged_checkpoint_is_named(run, tmp_path, capsys, damage):
    copy = shutil.copytree(run, tmp_path / "run")
    weights, meta = copy / "checkpoints" / "last.safetensors", copy / "checkpoints" / "last.json"
    if damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "garbage json":
        meta.write_text("{not json")
    else:
        meta.unlink()
    image = bad_files(tmp_path / "in")["notes.png"].with_name("ok.png")
    for command in (
        ["eval", str(copy)],
        ["predict", str(copy), str(image), "-o", str(tmp_path / "o.png")],
        ["calibrate", str(copy), "--images", "1", "--quiet"],
    ):
        assert main(command + ["--device", "cpu"]) == 2, command
        one_line_error(capsys, "last.")
    assert not (tmp_path / "o.png").exists() and not (copy / "calibration").exists()


def test_bad_configs_exit_2(tmp_path, capsys):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("model: [unclosed\n")
    assert main(["train", str(bad_yaml)]) == 2
    assert "not valid YAML" in one_line_error(capsys, "bad.yaml")
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    one_line_error(capsys, "none.yaml")
    good = tmp_path / "good.yaml"
    good.write_text("task:\n  name: depth\ndata:\n  name: synthetic\n")
    assert main(["train", str(good), "task.name=flowers"]) == 2
    assert "known tasks: depth, flow, segmentation" in one_line_error(capsys, "unknown task 'flowers'")
    assert main(["train", str(good), f"out_dir={tmp_path}"]) == 2
    assert "is a segmentation dataset but the task is 'depth'" in one_line_error(capsys, "synthetic")
    assert main(["train", str(good), "data.name=nyuv2", f"data.root={tmp_path / 'nyu'}", f"out_dir={tmp_path}"]) == 2
    one_line_error(capsys, "nyu")
    assert not (tmp_path / "good").exists()  # no run folder was created
