"""Resumable training checkpoints: one complete folder per step, damaged folders skipped on resume."""

from __future__ import annotations

import json

import pytest
import torch

from winwin.engine import train_checkpoints as tc
from winwin.engine.checkpoint import load_checkpoint, load_optimizer_state, load_task
from winwin.engine.train_checkpoints import CheckpointStore, model_path
from winwin.models import create_model
from winwin.tasks.depth import DepthSettings, DepthTask


def tiny_model(seed: int):
    torch.manual_seed(seed)
    return create_model("demo", embed_dim=32, num_heads=2, depth=2, head="linear", out_channels=1)


def optimizer_with_one_step(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sum(p.square().sum() for p in model.parameters()).backward()
    opt.step()
    return opt


TASK = DepthTask(DepthSettings(), {"min_depth": 0.5, "max_depth": 50.0})


def state_for(step: int) -> dict:
    return {"step": step, "seed": 7, "loss_avg": 0.25 * step, "world_size": 1}


@pytest.fixture
def saved(tmp_path):
    """Steps 10, 20, 30 saved with keep=2; returns (store, {step: (model, optimizer)})."""
    store = CheckpointStore(tmp_path / "checkpoints", keep=2)
    saved = {}
    for step in (10, 20, 30):
        model = tiny_model(step)
        opt = optimizer_with_one_step(model)
        assert store.save(step, model, opt, TASK, {"run": "r"}, state_for(step)) == store.step_folder(step)
        saved[step] = model, opt
    return store, saved


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_keep_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="keep must be an integer >= 1"):
        CheckpointStore(tmp_path, keep=0)


def test_save_keeps_the_newest_steps_and_points_last_at_the_newest(saved):
    store, models = saved
    assert store.steps() == [30, 20]
    assert sorted(p.name for p in store.folder.iterdir()) == [
        "last.json", "last.safetensors", "step-00000020", "step-00000030",
    ]  # fmt: skip
    assert sorted(p.name for p in store.step_folder(30).iterdir()) == [
        "manifest.json", "model.json", "model.optim.pt", "model.safetensors", "state.json",
    ]  # fmt: skip
    last, info = load_checkpoint(store.folder / "last")
    assert info["step"] == 30 and info["run"] == "r"
    assert same_weights(last, models[30][0]) and not same_weights(last, models[20][0])
    manifest = json.loads((store.step_folder(30) / "manifest.json").read_text())
    assert manifest["format"] == "winwin-train-checkpoint-1" and manifest["step"] == 30
    assert (
        manifest["files"]["model.safetensors"]["bytes"] == (store.step_folder(30) / "model.safetensors").stat().st_size
    )


def test_latest_round_trips_weights_optimizer_and_state(saved):
    store, models = saved
    reports = []
    folder, state = store.latest(report=reports.append)
    assert folder == store.step_folder(30) and state == state_for(30) and reports == []
    model, info = load_checkpoint(model_path(folder))
    assert same_weights(model, models[30][0]) and info["step"] == 30
    assert load_task(info).settings_dict() == TASK.settings_dict()
    expected = models[30][1].state_dict()
    loaded = load_optimizer_state(model_path(folder))
    assert loaded["param_groups"] == expected["param_groups"]
    assert loaded["state"].keys() == expected["state"].keys()
    for k, entry in expected["state"].items():
        assert all(torch.equal(loaded["state"][k][name], value) for name, value in entry.items())


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda f: truncate(f / "model.safetensors"), "model.safetensors should have"),
        (lambda f: flip_a_byte(f / "model.optim.pt"), "model.optim.pt does not match its sha256"),
        (lambda f: (f / "manifest.json").unlink(), "no manifest.json"),
        (lambda f: (f / "state.json").unlink(), "state.json is missing"),
        (lambda f: (f / "manifest.json").write_text("{"), "not readable JSON"),
    ],
)
def test_a_damaged_newest_step_is_reported_and_the_previous_one_used(saved, damage, reason):
    store, _ = saved
    damage(store.step_folder(30))
    reports = []
    folder, state = store.latest(report=reports.append)
    assert folder == store.step_folder(20) and state == state_for(20)
    assert len(reports) == 1 and "step-00000030" in reports[0] and "damaged" in reports[0] and reason in reports[0]
    assert store.step_folder(30).is_dir()  # kept, to look at


def test_none_when_every_step_is_damaged(saved, tmp_path):
    store, _ = saved
    for step in store.steps():
        truncate(store.step_folder(step) / "model.safetensors")
    reports = []
    assert store.latest(report=reports.append) is None
    assert len(reports) == 3 and "no usable checkpoint" in reports[-1]
    assert CheckpointStore(tmp_path / "empty").latest(report=reports.append) is None and len(reports) == 3


def test_a_save_killed_midway_is_ignored_then_cleaned_up(saved):
    store, _ = saved
    partial = store.folder / ".tmp-step-00000040-abcd1234"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half a file")
    reports = []
    assert store.latest(report=reports.append)[0] == store.step_folder(30) and reports == []
    model = tiny_model(40)
    store.save(40, model, optimizer_with_one_step(model), None, {}, state_for(40))
    assert not partial.exists() and store.steps() == [40, 30]


def test_saving_a_step_again_replaces_its_folder(saved):
    store, _ = saved
    truncate(store.step_folder(30) / "model.safetensors")  # an earlier attempt at step 30, damaged
    model = tiny_model(99)
    store.save(30, model, None, None, {}, state_for(30))
    folder, state = store.latest(report=pytest.fail)
    assert folder == store.step_folder(30) and state == state_for(30)
    assert same_weights(load_checkpoint(model_path(folder))[0], model)
    assert not (folder / "model.optim.pt").exists() and store.steps() == [30, 20]
    assert not list(store.folder.glob(".tmp-*")) and not list(store.folder.glob(".*.tmp"))


def test_state_must_be_json(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    with pytest.raises(TypeError):
        store.save(1, tiny_model(0), None, None, {}, {"bad": object()})
    assert not store.folder.exists()


def test_a_save_that_fails_midway_leaves_the_previous_step_and_last(saved, monkeypatch):
    store, _ = saved
    real = tc._fsync

    def disk_full(path):
        if path.name == "manifest.json":
            raise OSError(28, "No space left on device")
        real(path)

    monkeypatch.setattr(tc, "_fsync", disk_full)
    model = tiny_model(40)
    with pytest.raises(OSError, match="No space"):
        store.save(40, model, optimizer_with_one_step(model), TASK, {}, state_for(40))
    assert store.steps() == [30, 20] and not list(store.folder.glob(".tmp-*"))
    assert store.latest(report=pytest.fail)[0] == store.step_folder(30)
    assert load_checkpoint(store.folder / "last")[1]["step"] == 30
