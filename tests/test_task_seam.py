"""The seam holds: a third task defined in this file alone (regress a smoothed copy of the image) trains,
evaluates, calibrates and predicts through the engine and the command line, with no change to the engine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from winwin.cli import main
from winwin.data import DataConfig
from winwin.engine.config import load_config
from winwin.engine.train import train
from winwin.errors import InputError
from winwin.tasks import Panel, Task, TaskSettings, list_tasks, register_task


class NoiseImages(Dataset):
    """Deterministic random images and their 5x5 box-filtered copies: {"image" (3, H, W), "smooth" (3, H, W)}."""

    def __init__(self, length: int, hw: tuple[int, int], offset: int) -> None:
        self.length, self.hw, self.offset = length, hw, offset

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        gen = torch.Generator().manual_seed(self.offset + i)
        image = torch.randn(3, *self.hw, generator=gen)
        smooth = F.avg_pool2d(F.pad(image[None], (2, 2, 2, 2), mode="replicate"), 5, stride=1)[0]
        return {"image": image, "smooth": smooth, "index": i}


class MSE:
    primary, higher_is_better = "mse", False

    def __init__(self) -> None:
        self.sum, self.count = 0.0, 0

    def reset(self) -> None:
        self.sum, self.count = 0.0, 0

    def update(self, pred, target, valid=None) -> None:
        err = ((pred - target) ** 2).mean(1)  # (B, H, W)
        self.sum += float(err[valid].sum())
        self.count += int(valid.sum())

    def compute(self) -> dict:
        return {"mse": self.sum / max(self.count, 1)}


@dataclass
class SmoothSettings(TaskSettings):
    name: str = "smooth"
    weight: float = 1.0


class SmoothTask(Task):
    name = "smooth"
    Settings = SmoothSettings
    default_head = "linear"
    default_dataset = "noise_images"

    def check_data(self, data: DataConfig) -> None:
        if data.name != "noise_images":
            raise InputError(f"task smooth reads noise_images, not {data.name!r}")

    def build_dataset(self, data, split, *, train, augment=False, cache=False):
        self.check_data(data)
        return NoiseImages(
            data.train_length if train else data.val_length, tuple(data.image_size), 0 if split == "train" else 10_000
        )

    def out_channels(self) -> int:
        return 3

    def inputs(self, batch):
        return [batch["image"]]

    def target(self, batch):
        return batch["smooth"]  # (B, 3, H, W)

    def valid(self, batch):
        return torch.ones_like(batch["smooth"][:, 0], dtype=torch.bool)  # (B, H, W)

    def loss(self, output, target, valid):  # (B, 3, P), (B, 3, P), (B, P)
        return self.settings.weight * ((output.float() - target) ** 2).mean(1)[valid].mean()

    def predict(self, output):
        return output

    def metric(self):
        return MSE()

    prediction_formats = (".npy",)

    def write_prediction(self, prediction, path: Path, viz=None) -> str:
        np.save(path, prediction.numpy())
        return f"{tuple(prediction.shape)} smoothed image"

    def panels(self, sample, prediction):
        show = lambda x: (x.permute(1, 2, 0).numpy() * 0.2 + 0.5).clip(0, 1)  # noqa: E731
        return [Panel("input", show(sample["image"]), windows=0), Panel("prediction", show(prediction))]


TINY = [
    "task.name=smooth", "data.name=noise_images", "data.image_size=[32, 48]", "data.train_length=8",
    "data.val_length=2", "model.arch=demo", "model.embed_dim=32", "model.num_heads=2", "model.depth=2",
    "windows.num_windows=2", "windows.window_size=[1, 1]", "train.steps=30", "train.batch_size=4",
    "train.log_every=10", "train.ckpt_every=100", "train.threads=1", "optim.warmup_steps=1", "optim.lr=0.01",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    register_task(SmoothTask)
    out = tmp_path_factory.mktemp("runs")
    cfg = load_config(None, TINY + [f"out_dir={out}", "name=smooth"])
    assert cfg.model.head == "linear" and cfg.model.out_channels == 3  # the task's defaults reach the model
    return train(cfg, progress=False)


def test_the_third_task_is_registered_and_trains(run):
    assert "smooth" in list_tasks()
    logs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert logs[-1]["loss"] < 0.5 * logs[0]["loss"]  # it learned from the window pixels
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics["images"] == 2 and metrics["mse"] < 0.5  # inputs have variance 1, the target about 1/25
    info = json.loads((run / "checkpoints" / "last.json").read_text())
    assert info["task"]["settings"] == {"name": "smooth", "weight": 1.0}
    assert "mse" in (run / "report.md").read_text() and (run / "report.png").stat().st_size > 0


def test_eval_calibrate_and_predict_through_the_cli(run, tmp_path):
    out = tmp_path / "eval.json"
    assert main(["eval", str(run), "--device", "cpu", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["mse"] == pytest.approx(json.loads((run / "eval.json").read_text())["mse"])
    assert (
        main(
            [
                "calibrate",
                str(run),
                "--sweep",
                "0.5:1.5:0.5",
                "--select",
                "metric",
                "--images",
                "2",
                "--quiet",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "cal"),
            ]
        )
        == 0
    )
    rows = (tmp_path / "cal" / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("temperature,loss,mse") and len(rows) == 4
    info = json.loads((run / "checkpoints" / "last.json").read_text())
    assert info["calibration"]["sweep"]["criterion"] == "mse"
    image = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(image)
    assert main(["predict", str(run), str(image), "-o", str(tmp_path / "p.npy"), "--device", "cpu"]) == 0
    assert np.load(tmp_path / "p.npy").shape == (3, 40, 56)
    assert main(["predict", str(run), str(image), "-o", str(tmp_path / "p.png"), "--device", "cpu"]) == 2
    assert not (tmp_path / "p.png").exists()
