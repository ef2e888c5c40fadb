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

from helpers import cli
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
    model_defaults = {"head": "linear"}
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
    "train.device=cpu",
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
    logs = [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "lr" in r]
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
        cli(
            "calibrate",
            run,
            "--sweep 0.5:1.5:0.5 --select metric --images 2 --quiet --device cpu --out",
            tmp_path / "cal",
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


class TwoFrames(Dataset):
    """Frame 2 is frame 1 moved right by 16 px (one token): {"frame1", "frame2", "flow" (2, H, W), "valid"}."""

    def __init__(self, length: int, hw: tuple[int, int]) -> None:
        self.length, self.hw = length, hw

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        frame1 = torch.randn(3, *self.hw, generator=torch.Generator().manual_seed(i))
        frame2 = torch.roll(frame1, 16, dims=-1)
        flow = torch.zeros(2, *self.hw)
        flow[0] = 16.0  # (u, v) per pixel of frame 1
        valid = torch.ones(self.hw, dtype=torch.bool)
        valid[:, -16:] = False  # these pixels leave the image
        return {"frame1": frame1, "frame2": frame2, "flow": flow, "valid": valid, "index": i}


class StackedPair(torch.nn.Module):
    """A stand-in binocular model: both frames stacked on the channels, frame 1's windows."""

    def __init__(self) -> None:
        super().__init__()
        from winwin.models import create_model

        self.inner = create_model("demo", embed_dim=32, num_heads=2, depth=2, head="linear", in_chans=6, out_channels=2)
        self.patch_size = self.inner.patch_size

    def forward(self, img1, img2, windows=None):
        return self.inner(torch.cat([img1, img2], 1), None if windows is None else windows[0])


class PairTask(SmoothTask):
    name = "pair"
    num_inputs = 2

    def inputs(self, batch):
        return [batch["frame1"], batch["frame2"]]

    def target(self, batch):
        return batch["flow"]  # (B, 2, H, W)

    def valid(self, batch):
        return batch["valid"]

    def sample_windows(self, spec, grid_hw, target, valid, generator):
        from winwin.windows import from_boxes

        first = spec.sample(grid_hw, target.shape[0], generator)
        moved = first.boxes.clone()
        moved[..., 1] = (moved[..., 1] + 1).clamp(max=grid_hw[1] - moved[..., 3])  # guided by the 1-token flow
        return first, from_boxes(moved, grid_hw)

    def supervised_windows(self, windows):
        return windows[0]

    def window_sets(self, windows):
        return list(windows)

    def loss(self, output, target, valid):  # (B, 2, P), (B, 2, P), (B, P)
        return (output.float() - target).norm(dim=1)[valid].mean()

    def panels(self, sample, prediction):
        show = lambda x: (x.permute(1, 2, 0).numpy() * 0.2 + 0.5).clip(0, 1)  # noqa: E731
        return [
            Panel("frame 1", show(sample["frame1"]), windows=0),
            Panel("frame 2", show(sample["frame2"]), windows=1),
        ]


def test_a_two_frame_task_with_a_pair_of_windows_runs_through_the_engine(tmp_path):
    """What the flow task needs: two inputs, a pair of windows (the second guided by the target), a
    two-channel target with a valid mask; the engine's step, evaluation, report and prediction take it as is."""
    from torch.utils.data import DataLoader

    from winwin.engine.evaluate import evaluate
    from winwin.engine.report import save_report_figure
    from winwin.engine.step import batch_loss, prepare, supervised_pixels
    from winwin.inference import predict_files
    from winwin.windows import WindowSpec

    task, model, data = PairTask(), StackedPair(), TwoFrames(4, (32, 64))
    batch = prepare(task, next(iter(DataLoader(data, batch_size=2))), 16, "cpu")
    windows = task.sample_windows(WindowSpec(window_size=[1, 1]), (2, 4), batch.target, batch.valid, None)
    assert torch.equal(windows[1].boxes[..., 1], (windows[0].boxes[..., 1] + 1).clamp(max=3))
    out, target, valid = supervised_pixels(task, model(*batch.inputs, windows=windows), batch, windows, 16)
    assert out.shape == (2, 2, 512) and target.shape == (2, 2, 512) and valid.shape == (2, 512)
    assert (target[:, 0] == 16).all() and (target[:, 1] == 0).all()
    loss = batch_loss(task, model, batch, windows)
    loss.backward()
    assert torch.isfinite(loss) and model.inner.head.proj.weight.grad is not None

    metrics = evaluate(task, model, data, batch_size=2, progress=False)
    assert metrics["images"] == 4 and metrics["mse"] > 0
    save_report_figure(tmp_path / "r.png", task, model, data, WindowSpec(window_size=[1, 1]), (2, 4), "cpu")
    assert (tmp_path / "r.png").stat().st_size > 0
    frames = []
    for k, name in enumerate(("a.png", "b.png")):
        Image.fromarray(np.full((32, 64, 3), 40 * (k + 1), dtype=np.uint8)).save(tmp_path / name)
        frames.append(tmp_path / name)
    assert "smoothed" in predict_files(model, task, frames, tmp_path / "flow.npy")
    assert np.load(tmp_path / "flow.npy").shape == (2, 32, 64)
    with pytest.raises(InputError, match="from 2 image"):
        predict_files(model, task, frames[:1], tmp_path / "flow.npy")


def test_the_engine_and_the_command_line_name_no_task_detail():
    import winwin

    root = Path(winwin.__file__).parent
    words = ("segment", "miou", "palette", "num_classes", "abs_rel", "silog", "ignore_index", "optical flow")
    for path in [*sorted((root / "engine").glob("*.py")), root / "cli.py", *sorted((root / "inference").glob("*.py"))]:
        text = path.read_text().lower()
        found = [w for w in words if w in text]
        assert not found, f"{path.relative_to(root)} names {found}"
