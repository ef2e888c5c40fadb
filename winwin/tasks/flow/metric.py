"""Optical-flow evaluation: end-point error, outlier rates, KITTI's Fl-all and EPE by ground-truth speed.

The end-point error of a pixel is ``EPE = ||pred - gt||_2`` of its flow vector (u, v). From it:
``1px`` / ``3px`` / ``5px`` are the percent of valid pixels with EPE strictly above 1, 3, 5 px (the Sintel and
Spring outlier rates); ``fl_all`` is the percent with EPE > 3 px *and* EPE > 5 % of the ground-truth magnitude
(KITTI 2015's Fl-all, Menze & Geiger 2015); ``s0-10`` / ``s10-40`` / ``s40+`` are the mean EPE over the valid
pixels whose ground-truth speed ||gt||_2 lies in [0, 10), [10, 40), [40, inf) (MPI Sintel's speed bins).

Spring (Mehl et al. 2023, "Spring: A High-Resolution High-Detail Dataset and Benchmark for Scene Flow, Optical
Flow and Stereo") gives its ground truth at twice the image resolution; its benchmark scores a prediction
pixel against the 2 x 2 block of ground-truth pixels it covers and keeps the best match. With ``gt_scale = s``
(s = 2 for Spring) the error of a prediction pixel is therefore the *minimum* over the valid ground-truth
pixels of its s x s block of ``||pred - gt_k||``; the pixel is valid if any pixel of its block is valid, and
its ground-truth speed (for the speed bins and Fl-all) is that of the ground-truth pixel achieving the minimum.
"""

from __future__ import annotations

import math

import torch

from ..base import check_mergeable

# Keys of FlowMetric.compute() that are means over pixels (dataset mode) or over images (per-image mode).
NAMES = ("epe", "1px", "3px", "5px", "fl_all", "s0-10", "s10-40", "s40+")
_THRESHOLDS = (1.0, 3.0, 5.0)  # px, for 1px / 3px / 5px (strictly greater counts as an outlier)
_SPEED_BINS = ((0.0, 10.0), (10.0, 40.0), (40.0, math.inf))  # px, [lo, hi) of s0-10 / s10-40 / s40+
# Columns of the per-image sums: n, sum EPE, outliers > 1 / 3 / 5 px, Fl outliers, then (sum EPE, n) per bin.
_COLUMNS = 6 + 2 * len(_SPEED_BINS)


class FlowMetric:
    """Flow metrics accumulated over a dataset -> epe, 1px, 3px, 5px, fl_all, s0-10, s10-40, s40+, count.

    By default every key is a mean over all valid pixels of the dataset (Sintel, Spring, KITTI's Fl-all); with
    ``per_image`` each image's values are computed first and then averaged over images (images without a
    valid pixel are skipped; a speed-bin value is averaged over the images where that bin is not empty).
    ``gt_scale`` is the ratio of ground-truth to prediction resolution (2 for Spring; see the module docstring).

    Per-pixel errors are computed in float64 on the input's device; the sums are kept in float64 on the CPU.
    """

    primary = "epe"
    higher_is_better = False

    def __init__(self, per_image: bool = False, gt_scale: int = 1) -> None:
        if not (isinstance(gt_scale, int) and gt_scale >= 1):
            raise ValueError(f"flow gt_scale must be an integer >= 1 (1, or 2 for Spring); got {gt_scale!r}")
        self.per_image = per_image
        self.gt_scale = gt_scale
        self.reset()

    def reset(self) -> None:
        self.totals = torch.zeros(_COLUMNS, dtype=torch.float64)  # per-image sums, summed over images
        self.image_sums = torch.zeros(len(NAMES), dtype=torch.float64)  # sum over images of each image's mean
        self.image_counts = torch.zeros(len(NAMES), dtype=torch.float64)  # images where that mean exists

    def update(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """pred (B, 2, H, W) flow (u, v); target (B, 2, H*s, W*s); valid (B, H*s, W*s) bool or None (every
        finite ground-truth pixel). Non-finite ground-truth pixels are never valid."""
        self._check_shapes(pred, target, valid)
        pred = pred.detach().double()  # (B, 2, H, W)
        target = target.detach().to(pred.device, torch.float64)  # (B, 2, sH, sW)
        keep = torch.isfinite(target).all(1)  # (B, sH, sW)
        if valid is not None:
            keep &= valid.to(keep.device)
        epe, speed, keep = _errors(pred, target, keep, self.gt_scale)  # (B, H, W) each
        rows = _per_image_sums(epe.flatten(1), speed.flatten(1), keep.flatten(1))  # (B, _COLUMNS)
        self.totals += rows.sum(0).cpu()
        means, has = _means(rows)  # (B, len(NAMES)) each
        self.image_sums += torch.where(has, means, 0.0).sum(0).cpu()
        self.image_counts += has.sum(0).cpu()

    def merge(self, other: FlowMetric) -> None:
        """Add ``other``'s sums (another shard of the dataset) to this metric's; ``other`` is unchanged."""
        check_mergeable(self, other, ("per_image", "gt_scale"))
        for name in ("totals", "image_sums", "image_counts"):
            mine = getattr(self, name)
            mine += getattr(other, name).to(mine.device)

    def compute(self) -> dict:
        """-> each of NAMES as a float (NaN when nothing was scored, or a speed bin is empty) and "count", the
        number of valid (prediction-resolution) pixels."""
        if self.per_image:
            values = torch.where(self.image_counts > 0, self.image_sums / self.image_counts.clamp_min(1), math.nan)
        else:
            means, has = _means(self.totals[None])  # (1, len(NAMES)) each
            values = torch.where(has, means, math.nan)[0]
        out: dict = {name: float(v) for name, v in zip(NAMES, values)}
        out["count"] = int(self.totals[0])
        return out

    def _check_shapes(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None) -> None:
        if pred.ndim != 4 or pred.shape[1] != 2:
            raise ValueError(f"flow pred must be (B, 2, H, W) flow (u, v); got {tuple(pred.shape)}")
        b, _, h, w = pred.shape
        s = self.gt_scale
        expected = (b, 2, h * s, w * s)
        if tuple(target.shape) != expected:
            raise ValueError(
                f"flow target must be (B, 2, H*{s}, W*{s}) = {expected} for pred {tuple(pred.shape)} "
                f"(gt_scale {s}); got {tuple(target.shape)}"
            )
        if valid is not None and (tuple(valid.shape) != (b, h * s, w * s) or valid.dtype != torch.bool):
            raise ValueError(
                f"flow valid mask must be bool of shape {(b, h * s, w * s)}; got {valid.dtype} {tuple(valid.shape)}"
            )


def _errors(
    pred: torch.Tensor, target: torch.Tensor, keep: torch.Tensor, s: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """pred (B, 2, H, W), target (B, 2, sH, sW), keep (B, sH, sW) -> EPE, ground-truth speed, valid, each
    (B, H, W) at the prediction's resolution; EPE and speed are 0 where not valid."""
    b, _, h, w = pred.shape
    target = torch.where(keep[:, None], target, 0.0)  # (B, 2, sH, sW); no NaN beyond this point
    # Each prediction pixel's s x s ground-truth block, as a last axis of k = s * s candidates.
    gt = target.reshape(b, 2, h, s, w, s).permute(0, 1, 2, 4, 3, 5).reshape(b, 2, h, w, s * s)  # (B, 2, H, W, k)
    ok = keep.reshape(b, h, s, w, s).permute(0, 1, 3, 2, 4).reshape(b, h, w, s * s)  # (B, H, W, k)
    err = (pred[..., None] - gt).norm(dim=1)  # (B, H, W, k)
    best = torch.where(ok, err, math.inf).argmin(-1, keepdim=True)  # (B, H, W, 1); Spring: the best match
    keep = ok.any(-1)  # (B, H, W)
    epe = torch.where(keep, err.gather(-1, best)[..., 0], 0.0)  # (B, H, W)
    speed = torch.where(keep, gt.norm(dim=1).gather(-1, best)[..., 0], 0.0)  # (B, H, W)
    return epe, speed, keep


def _per_image_sums(epe: torch.Tensor, speed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """epe, speed (B, N) float64 (0 where not valid), keep (B, N) bool -> (B, _COLUMNS) sums per image."""
    dtype = epe.dtype

    def count(mask: torch.Tensor) -> torch.Tensor:  # (B, N) -> (B,), over valid pixels
        return (mask & keep).sum(1).to(dtype)

    cols = [count(keep), epe.sum(1), *(count(epe > t) for t in _THRESHOLDS)]
    cols.append(count((epe > 3.0) & (epe > 0.05 * speed)))  # KITTI Fl-all: > 3 px and > 5 % of |gt|
    for lo, hi in _SPEED_BINS:
        inside = keep & (speed >= lo) & (speed < hi)  # (B, N)
        cols += [torch.where(inside, epe, 0.0).sum(1), inside.sum(1).to(dtype)]
    return torch.stack(cols, 1)  # (B, _COLUMNS)


def _means(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, _COLUMNS) sums -> means (R, len(NAMES)) in NAMES order (percent for the outlier rates) and where
    each exists (R, len(NAMES)) bool; a mean without pixels is 0 and marked absent."""
    n = rows[:, :1]  # (R, 1)
    pixel_means = rows[:, 1:6] / n.clamp_min(1) * torch.tensor([1.0, 100.0, 100.0, 100.0, 100.0]).to(rows)  # (R, 5)
    bin_sums, bin_counts = rows[:, 6::2], rows[:, 7::2]  # (R, 3) each
    means = torch.cat([pixel_means, bin_sums / bin_counts.clamp_min(1)], 1)  # (R, 8)
    has = torch.cat([(n > 0).expand(-1, 5), bin_counts > 0], 1)  # (R, 8)
    return means, has
