"""RunLog: the run's log.jsonl, scalars.csv and TensorBoard event files, and a resume that logs each step once."""

from __future__ import annotations

import csv
import io
import json
import math
import sys

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from winwin.engine.run_log import RunLog


def jsonl(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def csv_rows(run_dir) -> list[dict]:
    with (run_dir / "scalars.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def tb(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return acc


def test_records_reach_all_three_logs(tmp_path):
    with RunLog(tmp_path) as log:
        log.record(50, {"loss": 0.5, "lr": 1e-4, "grad_norm": 2.25, "images_per_s": 31.7})
        log.record(100, {"val_miou": 0.625, "val_loss": math.nan})
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert lines[0] == '{"step": 50, "loss": 0.5, "lr": 0.0001, "grad_norm": 2.25, "images_per_s": 31.7}'
    assert lines[1] == '{"step": 100, "val_miou": 0.625, "val_loss": NaN}'
    assert (tmp_path / "scalars.csv").read_text().splitlines()[0] == "step,name,value,wall_time"
    rows = csv_rows(tmp_path)
    assert [(r["step"], r["name"], r["value"]) for r in rows] == [
        ("50", "loss", "0.5"),
        ("50", "lr", "0.0001"),
        ("50", "grad_norm", "2.25"),
        ("50", "images_per_s", "31.7"),
        ("100", "val_miou", "0.625"),
        ("100", "val_loss", "nan"),
    ]
    assert all(float(r["wall_time"]) > 0 for r in rows)
    acc = tb(tmp_path)
    assert sorted(acc.Tags()["scalars"]) == [
        "train/grad_norm", "train/images_per_s", "train/loss", "train/lr", "val/loss", "val/miou"
    ]  # fmt: skip
    assert [(e.step, e.value) for e in acc.Scalars("train/loss")] == [(50, 0.5)]
    assert acc.Scalars("train/lr")[0].value == np.float32(1e-4)
    assert acc.Scalars("train/images_per_s")[0].value == np.float32(31.7)
    assert acc.Scalars("val/miou")[0].step == 100 and acc.Scalars("val/miou")[0].value == 0.625
    assert math.isnan(acc.Scalars("val/loss")[0].value)


def test_image_is_logged_as_rgb(tmp_path):
    png = tmp_path / "pic.png"
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    Image.fromarray(pixels).save(png)
    with RunLog(tmp_path / "run") as log:
        log.image(7, "val/prediction", png)
    acc = tb(tmp_path / "run")
    assert acc.Tags()["images"] == ["val/prediction"]
    (event,) = acc.Images("val/prediction")
    assert (event.step, event.width, event.height) == (7, 6, 4)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(event.encoded_image_string))), pixels)


def test_resume_drops_what_came_after_the_checkpoint(tmp_path):
    with RunLog(tmp_path) as log:
        for step in range(1, 6):
            log.record(step, {"loss": float(step)})
    with (tmp_path / "log.jsonl").open("a") as f:
        f.write('{"step": 6, "lo')  # the killed process was writing this record
    with (tmp_path / "scalars.csv").open("a") as f:
        f.write("6,lo")
    with RunLog(tmp_path, resume_step=3) as log:
        assert [r["step"] for r in jsonl(tmp_path)] == [1, 2, 3]
        for step in (4, 5):
            log.record(step, {"loss": 10.0 * step})
    expected = [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0)]
    assert [(r["step"], r["loss"]) for r in jsonl(tmp_path)] == expected
    assert [(int(r["step"]), float(r["value"])) for r in csv_rows(tmp_path)] == expected
    assert (tmp_path / "scalars.csv").read_text().count("step,name,value,wall_time") == 1
    assert [(e.step, e.value) for e in tb(tmp_path).Scalars("train/loss")] == expected


def test_disabled_log_writes_nothing(tmp_path):
    png = tmp_path / "pic.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(png)
    with RunLog(tmp_path / "run", enabled=False, resume_step=3) as log:
        log.record(1, {"loss": 1.0})
        log.image(1, "x", png)
    assert not (tmp_path / "run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pic.png"]


def test_missing_tensorboard_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import raise ImportError
    with pytest.raises(ImportError, match="pip install tensorboard"):
        RunLog(tmp_path)
    RunLog(tmp_path, enabled=False).close()  # ranks that do not log never import it


def test_closed_log_refuses_records(tmp_path):
    log = RunLog(tmp_path)
    log.close()
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.record(1, {"loss": 1.0})
