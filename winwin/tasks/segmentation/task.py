"""``SegmentationTask``: what the engine needs to know about semantic segmentation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...data.palette import colorize, make_palette
from ...data.transforms import IGNORE_INDEX, denormalize
from ...errors import InputError
from ..base import Panel, Task, TaskSettings
from .loss import cross_entropy
from .metric import SegmentationMetric
from .writer import write_colour, write_labels


@dataclass
class SegmentationSettings(TaskSettings):
    name: str = "segmentation"
    num_classes: int = 19  # must match the dataset's (checked before training)
    ignore_index: int = IGNORE_INDEX  # label value of unlabelled pixels


class SegmentationTask(Task):
    """Samples {"image" (3, H, W), "label" (H, W) int64}; output: one logit per class and pixel."""

    name = "segmentation"
    Settings = SegmentationSettings
    model_defaults = {"head": "convnext"}  # the paper's segmentation head (Sec. 4.1)
    default_dataset = "synthetic"
    settings: SegmentationSettings

    @classmethod
    def from_legacy_checkpoint(cls, info: dict) -> SegmentationTask:
        """Checkpoints from before tasks: class names and palette at the top level of the JSON."""
        n = info["model"].get("out_channels", info["model"].get("num_classes"))
        return cls(SegmentationSettings(num_classes=int(n)), {k: info[k] for k in ("classes", "palette") if k in info})

    def validate(self) -> None:
        if self.settings.num_classes < 1:
            raise InputError(f"task.num_classes must be >= 1, got {self.settings.num_classes}")

    def out_channels(self) -> int:
        return self.settings.num_classes

    def fitted_to(self, dataset) -> SegmentationTask:
        n = getattr(dataset, "num_classes", None)
        if n is None or n == self.settings.num_classes:
            return self
        return type(self)(dataclasses.replace(self.settings, num_classes=int(n)), self.info)

    def bind(self, dataset) -> dict:
        n = getattr(dataset, "num_classes", None)
        if n != self.settings.num_classes:
            raise InputError(f"task.num_classes is {self.settings.num_classes} but the dataset has {n} classes")
        self.info = {"classes": list(dataset.classes), "palette": [list(map(int, c)) for c in dataset.palette]}
        return self.info

    @property
    def palette(self) -> np.ndarray:
        colours = self.info.get("palette") or make_palette(self.settings.num_classes)
        return np.asarray(colours, dtype=np.uint8)

    # -- batches -------------------------------------------------------------------------------------------
    def inputs(self, batch: dict) -> list[torch.Tensor]:
        return [batch["image"]]

    def target(self, batch: dict) -> torch.Tensor:
        return batch["label"]  # (B, H, W) int64

    def valid(self, batch: dict) -> torch.Tensor:
        return batch["label"] != self.settings.ignore_index  # (B, H, W)

    # -- loss, prediction, metric --------------------------------------------------------------------------
    def loss(self, output: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return cross_entropy(output, target, valid)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return output.argmax(1)  # (B, K, H, W) -> (B, H, W) class ids

    def metric(self) -> SegmentationMetric:
        return SegmentationMetric(self.settings.num_classes, self.settings.ignore_index)

    # -- files and report ----------------------------------------------------------------------------------
    def write_prediction(self, prediction: torch.Tensor, path: Path, viz: Path | None = None) -> str:
        labels = prediction.cpu().numpy()  # (H, W)
        write_labels(labels, path, self.palette)
        if viz is not None:
            write_colour(labels, viz, self.palette)
        present = sorted(set(np.unique(labels).tolist()))
        return f"{labels.shape[0]}x{labels.shape[1]} class ids, classes present: {present}"

    def summary(self, metrics: dict) -> str:
        return f"mIoU {metrics['miou']:.4f}  pixel acc {metrics['pixel_acc']:.4f}"

    def report_lines(self, metrics: dict) -> list[str]:
        names = self.info.get("classes") or [str(i) for i in range(self.settings.num_classes)]
        lines = [
            f"mIoU **{100 * metrics['miou']:.2f}**, pixel accuracy {100 * metrics['pixel_acc']:.2f}, "
            f"mean class accuracy {100 * metrics['mean_acc']:.2f}",
            "",
            "| class | IoU |",
            "|---|---|",
        ]
        for name, iou in zip(names, metrics["iou"]):
            lines.append(f"| {name} | {'n/a' if np.isnan(iou) else f'{100 * iou:.2f}'} |")
        return lines

    def panels(self, sample: dict, prediction: torch.Tensor) -> list[Panel]:
        rgb = denormalize(sample["image"]).permute(1, 2, 0).numpy()  # (H, W, 3)
        return [
            Panel("input + training windows", rgb, windows=0),
            Panel("prediction (full image, one pass)", colorize(prediction.cpu().numpy(), self.palette)),
            Panel("ground truth", colorize(sample["label"].numpy(), self.palette)),
        ]
