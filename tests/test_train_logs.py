"""A training run's curves: log.jsonl, scalars.csv and TensorBoard event files hold the same scalars,
evaluations during training show up as curves, the report picture as an image."""

import csv
import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import TINY
from winwin.engine.config import load_config
from winwin.engine.train import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = load_config(None, [*TINY, "train.steps=4", "train.eval_every=2", f"out_dir={out}", "name=logs"])
    return train(cfg, progress=False)


def test_jsonl_csv_and_tensorboard_hold_the_same_scalars(run):
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    expected = {(r["step"], k): v for r in records for k, v in r.items() if k != "step"}
    assert {k for _, k in expected} == {"loss", "lr", "grad_norm", "images_per_s", "val_miou", "val_loss"}
    with (run / "scalars.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(int(r["step"]), r["name"]): float(r["value"]) for r in rows} == expected

    events = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    for (step, name), value in expected.items():
        tag = f"val/{name[4:]}" if name.startswith("val_") else f"train/{name}"
        found = {e.step: e.value for e in events.Scalars(tag)}
        assert found[step] == pytest.approx(value, rel=1e-6), (tag, step)
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("val/miou")] == [2, 4]  # during training, then the final one
    assert events.Tags()["images"] == ["report"]
    assert events.Images("report")[0].width > 0
