"""``DepthTask``: monocular depth (paper Sec. 1, 4: the same window recipe as segmentation).

The model predicts log depth, so depth = exp(output) is positive by construction; the loss is the
scale-invariant log loss (SILog) or L1 on log depth, on valid pixels only (finite, inside the depth range).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ...data.transforms import denormalize
from ...errors import InputError
from ..base import Panel, Task, TaskSettings
from .loss import l1_log_loss, silog_loss
from .metric import NAMES, DepthMetric
from .writer import colorize_depth, display_range, write_depth, write_depth_picture

LOSSES = ("silog", "l1_log")
MAX_LOG_DEPTH = 20.0  # exp(20) m: keeps exp finite for a wild untrained output


@dataclass
class DepthSettings(TaskSettings):
    name: str = "depth"
    loss: str = "silog"  # silog | l1_log
    silog_lambda: float = 0.85  # SILog variance weight: 1 = fully scale invariant, 0 = squared log error
    min_depth: float | None = None  # valid depth range (metres); None = the dataset's (NYUv2 1e-3..10)
    max_depth: float | None = None
    eigen_crop: bool = False  # evaluate inside NYUv2's Eigen crop only
    median_scaling: bool = False  # evaluate after per-image median scaling (scale-ambiguous models)


class DepthTask(Task):
    """Samples {"image" (3, H, W), "depth" (H, W) metres, 0 / NaN where unknown}; output: log depth."""

    name = "depth"
    Settings = DepthSettings
    # DPT (Ranftl et al. 2021), the usual dense-regression head. Replicate padding: trained on small windows
    # with zero padding, DPT changes its output scale on the full image (docs/results.md, "Depth: the head").
    model_defaults = {"head": "dpt", "head_padding": "replicate"}
    default_dataset = "synthetic_depth"
    settings: DepthSettings

    def validate(self) -> None:
        s = self.settings
        if s.loss not in LOSSES:
            raise InputError(f"task.loss must be one of {LOSSES}, got {s.loss!r}")
        if not 0.0 <= s.silog_lambda <= 1.0:
            raise InputError(f"task.silog_lambda must be in [0, 1] (1 = scale invariant), got {s.silog_lambda}")
        lo, hi = s.min_depth, s.max_depth
        if (lo is not None and not lo > 0) or (lo is not None and hi is not None and not hi > lo):
            raise InputError(f"task depth range must be 0 < min_depth < max_depth, got {lo} and {hi}")

    def out_channels(self) -> int:
        return 1

    def bind(self, dataset) -> dict:
        lo = self.settings.min_depth if self.settings.min_depth is not None else getattr(dataset, "min_depth", None)
        hi = self.settings.max_depth if self.settings.max_depth is not None else getattr(dataset, "max_depth", None)
        if lo is None or hi is None:
            raise InputError("the dataset gives no depth range: set task.min_depth and task.max_depth (metres)")
        if not 0 < lo < hi:
            raise InputError(f"depth range must be 0 < min_depth < max_depth, got {lo} and {hi}")
        self.info = {"min_depth": float(lo), "max_depth": float(hi)}
        return self.info

    @property
    def depth_range(self) -> tuple[float, float]:
        lo = self.info.get("min_depth", self.settings.min_depth)
        hi = self.info.get("max_depth", self.settings.max_depth)
        if lo is None or hi is None:
            raise InputError("the depth range is unknown: set task.min_depth and task.max_depth")
        return float(lo), float(hi)

    # -- batches -------------------------------------------------------------------------------------------
    def inputs(self, batch: dict) -> list[torch.Tensor]:
        return [batch["image"]]

    def target(self, batch: dict) -> torch.Tensor:
        return batch["depth"]  # (B, H, W) metres

    def valid(self, batch: dict) -> torch.Tensor:
        lo, hi = self.depth_range
        depth = batch["depth"]
        return torch.isfinite(depth) & (depth > lo) & (depth < hi)  # (B, H, W); NaN compares False

    # -- loss, prediction, metric --------------------------------------------------------------------------
    def loss(self, output: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        pred_log = output[:, 0]  # (B, 1, P) -> (B, P)
        if self.settings.loss == "silog":
            return silog_loss(pred_log, target, valid, self.settings.silog_lambda)
        return l1_log_loss(pred_log, target, valid)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return output[:, 0].float().clamp(max=MAX_LOG_DEPTH).exp()  # (B, 1, H, W) log depth -> (B, H, W) metres

    def metric(self) -> DepthMetric:
        lo, hi = self.depth_range
        return DepthMetric(lo, hi, eigen_crop=self.settings.eigen_crop, median_scaling=self.settings.median_scaling)

    # -- files and report ----------------------------------------------------------------------------------
    def write_prediction(self, prediction: torch.Tensor, path: Path, viz: Path | None = None) -> str:
        depth = prediction.cpu().numpy()  # (H, W) metres
        write_depth(depth, path)
        if viz is not None:
            write_depth_picture(depth, viz)
        unit = "float32 metres" if path.suffix.lower() == ".npy" else "uint16 millimetres"
        return f"{depth.shape[0]}x{depth.shape[1]} depth in {unit}, {depth.min():.3g} to {depth.max():.3g} m"

    def summary(self, metrics: dict) -> str:
        return f"abs_rel {metrics['abs_rel']:.4f}  d1 {metrics['d1']:.4f}  rmse {metrics['rmse']:.4f}"

    def report_lines(self, metrics: dict) -> list[str]:
        lo, hi = self.depth_range
        s = self.settings
        where = f"depth range {lo:g} to {hi:g} m" + (", Eigen crop" if s.eigen_crop else "")
        where += ", median scaling" if s.median_scaling else ""
        return [
            f"| {' | '.join(NAMES)} |",
            "|" + "---|" * len(NAMES),
            "| " + " | ".join(f"{metrics[k]:.4f}" for k in NAMES) + " |",
            "",
            f"Per-image means over {metrics['images']} images ({where}); loss {s.loss}"
            + (f" (lambda {s.silog_lambda:g})" if s.loss == "silog" else "")
            + ".",
        ]

    def panels(self, sample: dict, prediction: torch.Tensor) -> list[Panel]:
        rgb = denormalize(sample["image"]).permute(1, 2, 0).numpy()  # (H, W, 3)
        truth = sample["depth"].numpy()
        valid = self.valid({"depth": sample["depth"]}).numpy()
        lo, hi = display_range(truth, valid)  # one colour scale for both
        return [
            Panel("input + training windows", rgb, windows=0),
            Panel("predicted depth (full image, one pass)", colorize_depth(prediction.numpy(), lo, hi)),
            Panel("ground-truth depth (black: invalid)", colorize_depth(truth, lo, hi, valid)),
        ]
