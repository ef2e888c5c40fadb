"""Temperature calibration: the sweep, learned per-head temperatures, and their round trip through the
checkpoint, ``winwin eval`` and ``winwin predict``."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from helpers import TINY, assert_close, cli
from winwin.cli import main
from winwin.data import build_dataset
from winwin.engine.calibrate import (
    CalibrationImages,
    _check_only_temperatures_changed,
    best_temperature,
    learn_head_temperatures,
    parse_sweep,
    selection_key,
    sweep_temperature,
)
from winwin.engine.checkpoint import load_checkpoint, save_checkpoint
from winwin.engine.config import load_config
from winwin.engine.evaluate import evaluate
from winwin.engine.train import train
from winwin.models import create_model
from winwin.models.temperature import head_temperatures, set_head_temperatures, temperature_override
from winwin.tasks.segmentation import SegmentationSettings, SegmentationTask

SEG = SegmentationTask(SegmentationSettings(num_classes=8))


def evaluate_segmentation(model, dataset, **kw):
    return evaluate(SEG, model, dataset, **kw)


def tiny_model():
    model = create_model("demo", embed_dim=32, num_heads=2, depth=2, head_width=8, head="convnext", out_channels=8)
    with torch.no_grad():  # sharper attention than the default init, so temperatures matter
        for attn in model.attention_layers():
            attn.qkv.weight.mul_(4.0)
    return model.eval()


@pytest.fixture(scope="module")
def images():
    return build_dataset("synthetic", "train", length=4, image_hw=(64, 64), seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train(load_config(None, TINY + [f"out_dir={out}", "name=tiny"]), progress=False)


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of the trained run (calibration rewrites the checkpoint's JSON)."""
    return shutil.copytree(trained, tmp_path / "run")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_json(path) -> dict:
    return json.loads(path.read_text())


def test_parse_sweep_is_inclusive_and_hits_one_exactly():
    values = parse_sweep("0.5:1.5:0.05")
    assert len(values) == 21 and values[0] == 0.5 and values[-1] == 1.5 and 1.0 in values
    assert parse_sweep("0.9:1.1:0.1") == [0.9, 1.0, 1.1]
    assert parse_sweep("2:2:1") == [2.0]


@pytest.mark.parametrize("text, match", [
    ("0.5:1.5", "three numbers"), ("a:b:c", "three numbers"), ("1.5:0.5:0.1", "START <= STOP"),
    ("0:1:0.1", "0 < START"), ("0.5:1.5:0", "STEP > 0"), ("0.001:100:0.001", "at most 1000"),
])  # fmt: skip
def test_parse_sweep_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_sweep(text)


def test_best_temperature_is_the_lowest_loss_and_ties_go_to_one():
    curve = [{"temperature": t, "loss": v} for t, v in [(0.5, 3.0), (0.9, 1.0), (1.0, 2.0), (1.1, 1.0), (2.0, 5.0)]]
    assert best_temperature(curve)["temperature"] in (0.9, 1.1)
    curve[1]["loss"] = 0.5
    assert best_temperature(curve)["temperature"] == 0.9
    assert (
        best_temperature([{"temperature": 0.5, "loss": 1.0}, {"temperature": 1.0, "loss": 1.0}])["temperature"] == 1.0
    )


def test_calibration_images_are_an_even_fixed_subset(images):
    assert CalibrationImages(images, 2).indices == [0, 3]
    assert CalibrationImages(images, 100).indices == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="at least 1"):
        CalibrationImages(images, 0)


def test_sweep_equals_one_eval_per_temperature_and_leaves_the_model_as_is(images):
    model = tiny_model()
    set_head_temperatures(model, [[0.7, 1.3], [1.1, 0.9]])  # the sweep overrides these, then restores them
    temps = [0.5, 1.0, 2.0]
    curve = sweep_temperature(SEG, model, images, temps, batch_size=3, progress=False)
    assert [r["temperature"] for r in curve] == temps
    for row, t in zip(curve, temps):
        ref = evaluate_segmentation(model, images, batch_size=1, temperature=t, progress=False)
        assert row["loss"] == pytest.approx(ref["loss"], rel=1e-5) and row["miou"] == pytest.approx(ref["miou"])
    assert len({round(r["loss"], 6) for r in curve}) == 3  # the temperature does change the loss
    assert_close(torch.tensor(head_temperatures(model)), torch.tensor([[0.7, 1.3], [1.1, 0.9]]))


def test_temperature_override_sets_aside_and_restores_per_head_values():
    model = tiny_model()
    set_head_temperatures(model, [[0.7, 1.3], [1.1, 0.9]])
    params = [a.log_temperature for a in model.attention_layers()]
    with temperature_override(model, 1.0):
        assert head_temperatures(model) is None and all(a.scale_factor() == 1.0 for a in model.attention_layers())
        assert not any(n.endswith("log_temperature") for n, _ in model.named_parameters())
    assert all(a.log_temperature is p for a, p in zip(model.attention_layers(), params))


def test_learning_changes_only_the_temperatures(images):
    model = tiny_model()
    model.set_temperature(0.8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log = learn_head_temperatures(SEG, model, images, steps=4, lr=0.05, batch_size=2, progress=False)
    after = model.state_dict()
    weights = [k for k in before]
    assert weights and all(torch.equal(after[k], before[k]) for k in weights)  # every weight bit-identical
    learned = [k for k in after if k not in before]
    assert learned == ["encoder.blocks.0.attn.log_temperature", "encoder.blocks.1.attn.log_temperature"]
    values = torch.tensor(head_temperatures(model))  # (layers, heads)
    assert values.shape == (2, 2) and not torch.allclose(values, torch.full((2, 2), 0.8))  # they did move
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(np.isfinite(r["loss"]) for r in log)
    assert all(p.requires_grad for p in model.parameters())  # freezing is undone


def test_learning_starts_from_the_shared_temperature(images):
    model = tiny_model()
    model.set_temperature(1.3)
    log = learn_head_temperatures(SEG, model, images, steps=1, lr=1e-6, batch_size=2, progress=False)
    assert log[0]["min"] == pytest.approx(1.3, rel=1e-4) and log[0]["max"] == pytest.approx(1.3, rel=1e-4)


def test_a_changed_frozen_weight_is_caught():
    model = tiny_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _check_only_temperatures_changed(model, before)
    with torch.no_grad():
        model.head.parameters().__next__().add_(1e-7)
    with pytest.raises(RuntimeError, match="changed frozen parameters"):
        _check_only_temperatures_changed(model, before)


def test_head_temperatures_round_trip_through_a_checkpoint(tmp_path):
    model = tiny_model()
    set_head_temperatures(model, [[0.7, 1.3], [1.1, 0.9]])
    model.config.head_temperatures = head_temperatures(model)
    save_checkpoint(tmp_path / "m", model, step=1)
    loaded, _ = load_checkpoint(tmp_path / "m")
    assert_close(torch.tensor(head_temperatures(loaded)), torch.tensor([[0.7, 1.3], [1.1, 0.9]]))
    x = torch.randn(1, 3, 32, 48)
    assert torch.equal(model(x), loaded.eval()(x))


def test_calibrate_sweep_stores_the_best_and_eval_uses_it(run, tmp_path):
    weights = run / "checkpoints" / "last.safetensors"
    digest = sha256(weights)
    # A range without 1.0, so the stored value cannot be mistaken for the untuned model.
    assert main(["calibrate", str(run), "--sweep", "1.5:3:0.5", "--images", "3", "--quiet", "--device", "cpu"]) == 0
    rows = (run / "calibration" / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("temperature,loss,miou") and len(rows) == 5
    losses = {float(r.split(",")[0]): float(r.split(",")[1]) for r in rows[1:]}
    best = min(losses, key=losses.get)
    info = read_json(run / "checkpoints" / "last.json")
    assert info["model"]["temperature"] == best and info["calibration"]["sweep"]["best"] == best
    assert info["calibration"]["images"] == 3 and (run / "calibration" / "sweep.png").stat().st_size > 0
    assert sha256(weights) == digest  # weights untouched

    out = tmp_path / "eval.json"
    assert main(["eval", str(run), "--device", "cpu", "-o", str(out)]) == 0
    stored = read_json(out)
    model, _ = load_checkpoint(run / "checkpoints" / "last")
    val = build_dataset("synthetic", "val", length=2, image_hw=(64, 96), seed=0)
    expected = evaluate_segmentation(model, val, temperature=best, progress=False)
    untuned = evaluate_segmentation(model, val, temperature=1.0, progress=False)
    assert stored["temperature"] == best and stored["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert stored["loss"] != pytest.approx(untuned["loss"], rel=1e-6)
    assert main(["eval", str(run), "--device", "cpu", "--temperature", "1", "-o", str(out)]) == 0
    plain = read_json(out)
    assert plain["temperature"] == 1.0 and plain["loss"] == pytest.approx(untuned["loss"], rel=1e-6)
    assert plain["miou"] == pytest.approx(read_json(run / "eval.json")["miou"])  # the training run's own eval


def test_calibrate_learn_stores_per_head_values_used_by_eval_and_predict(run, tmp_path, capsys):
    weights = run / "checkpoints" / "last.safetensors"
    digest = sha256(weights)
    assert cli("calibrate", run, "--sweep 0.5:1.5:0.5 --learn --steps 3 --lr 0.05 --images 2 --quiet --device cpu") == 0
    info = read_json(run / "checkpoints" / "last.json")
    heads = info["model"]["head_temperatures"]
    assert np.array(heads).shape == (2, 2) and info["calibration"]["learn"]["init"] == info["model"]["temperature"]
    assert sha256(weights) == digest
    for name in ("sweep.csv", "sweep.png", "learn.csv", "learn.png", "head_temperatures.json", "calibration.json"):
        assert (run / "calibration" / name).is_file(), name
    assert "per-head temperatures" in capsys.readouterr().out

    model, _ = load_checkpoint(run / "checkpoints" / "last")
    assert_close(torch.tensor(head_temperatures(model)), torch.tensor(heads))
    out = tmp_path / "eval.json"
    assert main(["eval", str(run), "--device", "cpu", "-o", str(out)]) == 0
    result = read_json(out)
    val = build_dataset("synthetic", "val", length=2, image_hw=(64, 96), seed=0)
    assert result["temperature"] == "per_head" and result["head_temperatures"] == pytest.approx(np.array(heads))
    assert result["loss"] == pytest.approx(evaluate_segmentation(model, val, progress=False)["loss"], rel=1e-6)
    assert main(["eval", str(run), "--device", "cpu", "--temperature", "1", "-o", str(out)]) == 0
    assert read_json(out)["miou"] == pytest.approx(read_json(run / "eval.json")["miou"])


def test_calibrate_errors(run, capsys):
    with pytest.raises(SystemExit, match="START:STOP:STEP"):
        main(["calibrate", str(run), "--sweep", "1.5:0.5"])
    with pytest.raises(SystemExit, match="--images must be >= 1"):
        main(["calibrate", str(run), "--images", "0"])
    assert main(["calibrate", str(run / "nowhere")]) == 2
    assert "checkpoint needs both" in capsys.readouterr().err
    assert not (run / "calibration").exists()  # nothing written before the inputs were checked


def test_select_by_miou_keeps_the_highest_metric():
    curve = [{"temperature": 0.7, "loss": 1.0, "miou": 0.2}, {"temperature": 1.4, "loss": 2.0, "miou": 0.3}]
    assert best_temperature(curve, "loss")["temperature"] == 0.7
    assert best_temperature(curve, "miou", higher_is_better=True)["temperature"] == 1.4
    assert selection_key(SEG, "metric") == ("miou", True) == selection_key(SEG, "miou")
    with pytest.raises(ValueError, match="unknown selection criterion"):
        selection_key(SEG, "accuracy")


def test_calibrate_warns_when_the_best_is_at_the_edge(run, capsys):
    assert cli("calibrate", run, "--sweep 1:1.5:0.5 --select miou --images 2 --quiet --device cpu") == 0
    out = capsys.readouterr().out
    info = read_json(run / "checkpoints" / "last.json")["calibration"]["sweep"]
    assert info["criterion"] == "miou" and info["at_edge"] and "edge of the sweep" in out


def test_predict_uses_the_stored_per_head_temperatures(run, tmp_path):
    from PIL import Image

    from winwin.data.transforms import load_image
    from winwin.inference import full_resolution

    model, info = load_checkpoint(run / "checkpoints" / "last")
    values = [[0.2, 5.0], [4.0, 0.3]]  # far from 1, so the labels depend on them
    with torch.no_grad():  # sharper attention than after 3 training steps
        for attn in model.attention_layers():
            attn.qkv.weight.mul_(6.0)
    set_head_temperatures(model, values)
    model.config.head_temperatures = values
    save_checkpoint(
        run / "checkpoints" / "last", model, step=3, task=SegmentationTask(SEG.settings, info["task"]["info"])
    )
    rng = np.random.default_rng(0)
    image = tmp_path / "in.png"
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "out.png"
    assert main(["predict", str(run), str(image), "-o", str(out), "--device", "cpu"]) == 0
    written = np.array(Image.open(out))  # a palette PNG: the pixel values are the class ids
    x = load_image(image)[None]
    tuned = full_resolution(model, [x]).argmax(1)[0]
    untuned = full_resolution(model, [x], temperature=1.0).argmax(1)[0]
    assert np.array_equal(written, tuned.numpy())
    assert not torch.equal(tuned, untuned)
