"""``FlowTask``: optical flow from a frame pair with a binocular model (paper Sec. 3 "binocular tasks", 4.2).

Training keeps a few windows of tokens in each frame: the first frame's at random (the ``windows:`` section),
the second frame's guided by the ground-truth flow of the first frame's window pixels (App. B), or the same
windows, or independent random ones (Table 3's comparisons). The model predicts (u, v) and a confidence per
pixel of the first frame; the loss is Laplacian with bounded confidence on valid window pixels (or the plain
end-point error for a model without a confidence channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...data.flow_viz import flow_to_color
from ...data.transforms import denormalize
from ...errors import InputError
from ...windows import Windows, WindowSpec, check_fit, sample_flow_guided_windows, sample_windows
from ..base import Panel, Task, TaskSettings
from .loss import bounded_confidence, epe_loss, laplacian_loss
from .scores import FlowScores, benchmark_lines
from .writer import write_flow, write_flow_picture

FRAME2 = ("guided", "same", "random")
LOSSES = ("laplacian", "epe")
FRAME2_TITLES = {"guided": "flow-guided windows", "same": "windows (frame 1's)", "random": "random windows"}
EXTRAS = ("occluded", "flow_2x", "valid_2x")  # optional sample keys the metric reads (Sintel, Spring)
COLUMNS = ("epe", "1px", "3px", "5px", "fl_all", "s0-10", "s10-40", "s40+")


@dataclass
class FlowSettings(TaskSettings):
    name: str = "flow"
    frame2: str = "guided"  # second frame's windows: guided (by the flow, App. B) | same | random
    frame2_sizes: list[list[int]] | None = None  # (h, w) tokens of each frame-2 window; None = frame 1's sizes
    stochasticity: float = 0.3  # guided: noise std / std of the end-point counts (0 = the best-covering windows)
    loss: str = "laplacian"  # laplacian (u, v + confidence: 3 channels) | epe (u, v only)
    conf_min: float = 0.25  # Laplacian: bounds of the predicted scale c' = (max - min) sigmoid(c) + min
    conf_max: float = 4.0
    per_image: bool = False  # metric: average per image first (default: over all valid pixels of the set)
    flow_scale: float = 16.0  # pixels per unit of the network's (u, v) channels: it predicts flow / flow_scale


class FlowTask(Task):
    """Samples {"image1", "image2" (3, H, W), "flow" (2, H, W) pixels (u along x, v along y), "valid" (H, W)};
    output: (u, v, confidence) per pixel of the first frame."""

    name = "flow"
    Settings = FlowSettings
    model_defaults = {"binocular": True, "head": "dpt", "head_padding": "replicate"}
    default_dataset = "synthetic_flow"
    num_inputs = 2
    prediction_formats = (".flo", ".png", ".npy")  # .png: KITTI's 16-bit flow PNG
    settings: FlowSettings

    @classmethod
    def saved_settings(cls, raw: dict) -> dict:
        """Checkpoints from before ``flow_scale`` existed predicted flow in pixels."""
        return {"flow_scale": 1.0, **raw}

    def validate(self) -> None:
        s = self.settings
        if s.frame2 not in FRAME2:
            raise InputError(f"task.frame2 must be one of {FRAME2}, got {s.frame2!r}")
        if s.loss not in LOSSES:
            raise InputError(f"task.loss must be one of {LOSSES}, got {s.loss!r}")
        if not s.stochasticity >= 0:
            raise InputError(f"task.stochasticity must be >= 0, got {s.stochasticity}")
        if not s.flow_scale > 0:
            raise InputError(f"task.flow_scale must be > 0 (pixels per output unit), got {s.flow_scale}")
        if not 0 < s.conf_min < s.conf_max:
            raise InputError(f"task confidence bounds must be 0 < conf_min < conf_max, got {s.conf_min}, {s.conf_max}")
        sizes = s.frame2_sizes
        if sizes is not None and (not sizes or any(len(hw) != 2 or min(hw) < 1 for hw in sizes)):
            raise InputError(f"task.frame2_sizes must be a list of (h, w) token sizes >= 1, got {sizes}")
        if sizes is not None and s.frame2 == "same":
            raise InputError("task.frame2_sizes does not apply to frame2=same (frame 2 keeps frame 1's windows)")

    def out_channels(self) -> int:
        return 3 if self.settings.loss == "laplacian" else 2

    # -- batches -------------------------------------------------------------------------------------------
    def inputs(self, batch: dict) -> list[torch.Tensor]:
        return [batch["image1"], batch["image2"]]

    def target(self, batch: dict) -> torch.Tensor:
        return batch["flow"]  # (B, 2, H, W)

    def valid(self, batch: dict) -> torch.Tensor:
        return batch["valid"].bool() & torch.isfinite(batch["flow"]).all(dim=1)  # (B, H, W)

    def extras(self, batch: dict) -> dict[str, torch.Tensor]:
        """Sintel's occlusion masks and Spring's 2x ground truth, when the dataset yields them."""
        return {k: batch[k] for k in EXTRAS if k in batch}

    # -- windows -------------------------------------------------------------------------------------------
    def sample_windows(
        self,
        spec: WindowSpec,
        grid_hw: tuple[int, int],
        target: torch.Tensor,
        valid: torch.Tensor,
        generator: torch.Generator | None,
        part: tuple[int, int] = (0, 1),
    ) -> tuple[Windows, Windows] | None:
        """(frame-1 windows, frame-2 windows), or None for full-resolution training. ``part``: as in
        ``Task.sample_windows``; frame 1's (and random frame-2) windows are drawn for the global batch, the
        flow-guided frame-2 windows from this share's own flow (their noise then depends on the split)."""
        rank, world = part
        first = spec.sample(grid_hw, target.shape[0] * world, generator)
        if first is None:
            return None
        first = first.part(rank, world)
        s = self.settings
        if s.frame2 == "same":
            return first, first
        sizes = [tuple(hw) for hw in s.frame2_sizes] if s.frame2_sizes is not None else first.sizes
        if s.frame2 == "random":
            return first, sample_windows(grid_hw, len(sizes), sizes, target.shape[0] * world, generator).part(
                rank, world
            )
        patch = target.shape[-2] // grid_hw[0]
        # the sampler draws its noise from the CPU generator; binning a batch's flow there is cheap
        second = sample_flow_guided_windows(
            first, target.float().cpu(), valid.cpu(), patch, sizes, s.stochasticity, generator
        )
        return first, second

    def check_windows(self, spec: WindowSpec, grid_hw: tuple[int, int]) -> None:
        """Raise ``InputError`` when the frame-2 windows cannot fit the grid."""
        if self.settings.frame2_sizes is None:
            return
        try:
            check_fit(grid_hw, [tuple(hw) for hw in self.settings.frame2_sizes])
        except ValueError as e:
            raise InputError(f"task.frame2_sizes: {e}") from None

    def supervised_windows(self, windows: tuple[Windows, Windows]) -> Windows:
        return windows[0]

    def window_sets(self, windows: tuple[Windows, Windows]) -> list[Windows]:
        return list(windows)

    # -- loss, prediction, metric --------------------------------------------------------------------------
    def in_pixels(self, output: torch.Tensor) -> torch.Tensor:
        """The raw output (B, K, ...) with its (u, v) channels in pixels (times ``flow_scale``); the rest as is.

        Predicting flow / flow_scale keeps the head's outputs near unit size: with raw pixels (scale 1) the
        small models of ``docs/results.md`` stayed at the zero-flow plateau where scale 16 learnt."""
        return torch.cat([output[:, :2] * self.settings.flow_scale, output[:, 2:]], dim=1)

    def loss(self, output: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        output = self.in_pixels(output)
        if self.settings.loss == "laplacian":
            return laplacian_loss(output, target, valid, self.settings.conf_min, self.settings.conf_max)
        return epe_loss(output, target, valid)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return output[:, :2].float() * self.settings.flow_scale  # (B, K, H, W) -> (B, 2, H, W) flow in pixels

    def metric(self) -> FlowScores:
        return FlowScores(per_image=self.settings.per_image)

    def update_metric(
        self,
        metric: FlowScores,
        prediction: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor,
        extras: dict[str, torch.Tensor],
    ) -> None:
        metric.update(prediction, target, valid, extras)

    # -- inference strategies ------------------------------------------------------------------------------
    def tile_weights(self, output: torch.Tensor) -> torch.Tensor | None:
        """Blending weights of overlapping tiles: the inverse of the predicted Laplacian scale c' (a tile
        sure of its flow counts more, as CroCo-Flow blends by confidence); None without a confidence."""
        if self.settings.loss != "laplacian":
            return None
        c = bounded_confidence(output[:, 2:3].float(), self.settings.conf_min, self.settings.conf_max)
        return 1.0 / c  # (B, 1, h, w)

    def rescale_output(self, output: torch.Tensor, scale_y: float, scale_x: float) -> torch.Tensor:
        """A raw output computed on an image resized by (scale_y, scale_x): flow vectors scale with it."""
        out = output.clone()
        out[:, 0] *= 1.0 / scale_x
        out[:, 1] *= 1.0 / scale_y
        return out

    # -- files and report ----------------------------------------------------------------------------------
    def write_prediction(self, prediction: torch.Tensor, path: Path, viz: Path | None = None) -> str:
        flow = prediction.permute(1, 2, 0).cpu().numpy()  # (2, H, W) -> (H, W, 2)
        write_flow(flow, path)
        if viz is not None:
            write_flow_picture(flow, viz)
        speed = np.linalg.norm(flow, axis=-1)
        return f"{flow.shape[0]}x{flow.shape[1]} flow (u, v) in pixels, speed up to {speed.max():.3g} px"

    def summary(self, metrics: dict) -> str:
        return f"EPE {metrics['epe']:.3f}  >1px {metrics['1px']:.2f}%  >3px {metrics['3px']:.2f}%"

    def eval_lines(self, metrics: dict) -> list[str]:
        return benchmark_lines(metrics)

    def report_lines(self, metrics: dict) -> list[str]:
        s = self.settings
        how = "per image, then averaged" if s.per_image else "over all valid pixels of the set"
        sizes = (
            "frame 1's window sizes" if s.frame2_sizes is None else " + ".join(f"{h}x{w}" for h, w in s.frame2_sizes)
        )
        frame2 = {
            "guided": f"guided by the flow ({sizes}, stochasticity {s.stochasticity:g})",
            "same": "the same windows as frame 1",
            "random": f"independent random windows ({sizes})",
        }[s.frame2]
        return [
            f"Training windows of frame 2: {frame2}; loss {s.loss}.",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
            "| " + " | ".join(f"{metrics[k]:.3f}" for k in COLUMNS) + " |",
            "",
            f"EPE in pixels; 1px / 3px / 5px: % of pixels with an end-point error above that; fl_all: % above 3 px "
            f"and 5% of the true speed; s0-10 / s10-40 / s40+: EPE by true speed (px). Means {how}.",
        ]

    def panels(self, sample: dict, prediction: torch.Tensor) -> list[Panel]:
        frames = [denormalize(sample[k]).permute(1, 2, 0).numpy() for k in ("image1", "image2")]  # (H, W, 3)
        truth = sample["flow"].permute(1, 2, 0).numpy()  # (H, W, 2)
        valid = self.valid({"flow": sample["flow"][None], "valid": sample["valid"][None]})[0].numpy()
        top = float(np.linalg.norm(truth[valid], axis=-1).max()) if valid.any() else None
        truth_rgb = np.where(valid[..., None], flow_to_color(truth, top), 0).astype(np.uint8)
        return [
            Panel("frame 1 + its training windows", frames[0], windows=0),
            Panel(f"frame 2 + its {FRAME2_TITLES[self.settings.frame2]}", frames[1], windows=1),
            Panel("predicted flow (full pair, one pass)", flow_to_color(prediction.permute(1, 2, 0).numpy(), top)),
            Panel("ground-truth flow (black: invalid)", truth_rgb),
        ]
