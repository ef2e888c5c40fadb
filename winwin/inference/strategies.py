"""Test-time strategies for a model trained on windows or crops (paper Tables 2 and 4):

- ``full``: the whole image (or frame pair) in one forward pass: Win-Win's way;
- ``tiling``: overlapping tiles of the training crop size, each predicted alone, blended where they overlap
  (a plain average of raw outputs, or the task's weights: the predicted confidence for flow, as CroCo-Flow);
- ``resize``: the image down to the training size, the prediction back up (flow vectors rescaled by the task).

All take the model's inputs (each (B, 3, H, W)) and return its raw output (B, K, H, W), for every task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..tasks import Task
from .full import full_resolution

MODES = ("full", "tiling", "resize")


@dataclass(frozen=True)
class InferenceSpec:
    mode: str = "full"  # full | tiling | resize
    tile: tuple[int, int] | None = None  # tiling: tile (h, w) px; resize: the size the image is resized to
    overlap: float = 0.5  # tiling: overlap ratio of neighbouring tiles, in [0, 1)
    tile_batch: int = 8  # tiling: tiles per forward

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"inference mode must be one of {MODES}, got {self.mode!r}")
        if self.mode != "full" and (self.tile is None or min(self.tile) < 1):
            raise ValueError(f"{self.mode} inference needs a tile / target size (h, w) in pixels, got {self.tile}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"tiling overlap must be in [0, 1), got {self.overlap}")
        if self.tile_batch < 1:
            raise ValueError(f"tile_batch must be >= 1, got {self.tile_batch}")

    def describe(self) -> str:
        if self.mode == "full":
            return "full resolution, one pass"
        h, w = self.tile  # type: ignore[misc]
        if self.mode == "resize":
            return f"resized to {h}x{w}"
        return f"tiles of {h}x{w}, overlap {self.overlap:g}"


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of ``tile`` px covering ``length`` px, neighbours overlapping by at least
    ``overlap`` x tile, evenly spread from 0 to length - tile (one tile when it covers everything)."""
    if tile >= length:
        return [0]
    stride = max(1.0, tile * (1.0 - overlap))
    n = math.ceil((length - tile) / stride - 1e-6) + 1  # 1e-6: 384 * (1 - 0.9) is 38.39999...
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def tile_grid(hw: tuple[int, int], tile: tuple[int, int], overlap: float) -> list[tuple[int, int]]:
    """(top, left) of every tile of an image of ``hw`` px."""
    return [(y, x) for y in tile_starts(hw[0], tile[0], overlap) for x in tile_starts(hw[1], tile[1], overlap)]


@torch.no_grad()
def tiled(
    model: nn.Module,
    task: Task,
    inputs: list[torch.Tensor],
    tile: tuple[int, int],
    overlap: float,
    temperature: float | None = None,
    tile_batch: int = 8,
) -> torch.Tensor:
    """Predict every tile alone and blend: inputs each (B, 3, H, W) -> raw output (B, K, H, W)."""
    B, _, H, W = inputs[0].shape
    th, tw = min(tile[0], H), min(tile[1], W)
    corners = tile_grid((H, W), (th, tw), overlap)
    acc: torch.Tensor | None = None
    weight_sum = torch.zeros(B, 1, H, W, device=inputs[0].device)
    for start in range(0, len(corners), tile_batch):
        chunk = corners[start : start + tile_batch]
        crops = [torch.cat([x[..., y : y + th, x0 : x0 + tw] for y, x0 in chunk]) for x in inputs]  # (n*B, 3, th, tw)
        out = full_resolution(model, crops, temperature).float()  # (n*B, K, th, tw)
        weights = task.tile_weights(out)
        weights = torch.ones_like(out[:, :1]) if weights is None else weights.float()  # (n*B, 1, th, tw)
        if acc is None:
            acc = torch.zeros(B, out.shape[1], H, W, device=out.device)
        for i, (y, x0) in enumerate(chunk):
            part = slice(i * B, (i + 1) * B)
            acc[..., y : y + th, x0 : x0 + tw] += out[part] * weights[part]
            weight_sum[..., y : y + th, x0 : x0 + tw] += weights[part]
    assert acc is not None
    return acc / weight_sum  # (B, K, H, W)


@torch.no_grad()
def resized(
    model: nn.Module, task: Task, inputs: list[torch.Tensor], size: tuple[int, int], temperature: float | None = None
) -> torch.Tensor:
    """Resize the inputs to ``size`` (h, w), predict, resize the raw output back (bilinear) and let the task
    rescale what scales with the image (flow vectors): -> (B, K, H, W)."""
    H, W = inputs[0].shape[-2:]
    small = [F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True) for x in inputs]
    out = full_resolution(model, small, temperature).float()  # (B, K, h, w)
    up = F.interpolate(out, size=(H, W), mode="bilinear", align_corners=False)  # (B, K, H, W)
    return task.rescale_output(up, size[0] / H, size[1] / W)


def infer(
    model: nn.Module,
    task: Task,
    inputs: list[torch.Tensor],
    spec: InferenceSpec | None = None,
    temperature: float | None = None,
) -> torch.Tensor:
    """The raw output (B, K, H, W) by the strategy ``spec`` (None: full resolution, one pass)."""
    if spec is None or spec.mode == "full":
        return full_resolution(model, inputs, temperature)
    spec.validate()
    assert spec.tile is not None
    if spec.mode == "tiling":
        return tiled(model, task, inputs, spec.tile, spec.overlap, temperature, spec.tile_batch)
    return resized(model, task, inputs, spec.tile, temperature)
