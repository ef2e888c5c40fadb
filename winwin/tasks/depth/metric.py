"""Monocular-depth evaluation: the standard error and accuracy measures, averaged per image.

The measures are those of Eigen et al. 2014 ("Depth Map Prediction from a Single Image using a Multi-Scale
Deep Network", Sec. 4) as used throughout the NYUv2 / KITTI literature (BTS, AdaBins, Monodepth2). Each is
computed per image over its valid pixels, then averaged over images, as the NYUv2 literature does; images
without a valid pixel are skipped and counted.
"""

from __future__ import annotations

import math

import torch

from ..base import check_mergeable

# Order of the per-image rows summed in DepthMetric.sums.
NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "d1", "d2", "d3")

# Eigen crop of NYUv2 on a 480 x 640 image (Eigen et al. 2014; the evaluation code of BTS / AdaBins):
# rows [45, 471), columns [41, 601).
_EIGEN_CROP_480x640 = (45, 471, 41, 601)


def eigen_crop_bounds(height: int, width: int) -> tuple[int, int, int, int]:
    """-> (top, bottom, left, right), rows [top, bottom) x columns [left, right) of the NYUv2 Eigen crop.

    Exact for 480 x 640; for other sizes every bound is scaled by height / 480 or width / 640 and rounded
    half up (e.g. 240 x 320 -> rows [23, 236), columns [21, 301)).
    """
    top, bottom, left, right = _EIGEN_CROP_480x640
    sy, sx = height / 480, width / 640

    def half_up(x: float) -> int:
        return math.floor(x + 0.5)

    return half_up(top * sy), half_up(bottom * sy), half_up(left * sx), half_up(right * sx)


class DepthMetric:
    """Per-image depth metrics accumulated over a dataset -> abs_rel, sq_rel, rmse, rmse_log, d1, d2, d3.

    With p the prediction and t the ground truth (metres) over an image's valid pixels:
    abs_rel = mean |p - t| / t, sq_rel = mean (p - t)^2 / t, rmse = sqrt(mean (p - t)^2),
    rmse_log = sqrt(mean (log p - log t)^2), dk = share of pixels with max(p / t, t / p) < 1.25^k.

    Valid pixels: ``valid`` (if given) and t finite and min_depth < t < max_depth (NYUv2: 1e-3..10 m,
    KITTI: 1e-3..80 m) and, with ``eigen_crop``, inside the NYUv2 Eigen crop (:func:`eigen_crop_bounds`).
    With ``median_scaling`` each prediction is first multiplied by median(t) / median(p) over the valid
    pixels (the protocol for scale-ambiguous models, e.g. Monodepth2; medians as ``numpy.median``). Then
    predictions are clipped to [min_depth, max_depth], the usual practice.

    Per-image values are computed in float64 on the input's device; their sums are kept in float64 on the
    CPU.
    """

    primary = "abs_rel"
    higher_is_better = False

    def __init__(
        self, min_depth: float = 1e-3, max_depth: float = 10.0, eigen_crop: bool = False, median_scaling: bool = False
    ) -> None:
        if not (0.0 < min_depth < max_depth < math.inf):
            raise ValueError(
                f"depth range needs 0 < min_depth < max_depth < inf; got min_depth {min_depth}, max_depth {max_depth}"
            )
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.eigen_crop = eigen_crop
        self.median_scaling = median_scaling
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(len(NAMES), dtype=torch.float64)  # sum over scored images of each per-image value
        self.images = 0
        self.skipped = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """pred, target: (B, H, W) or (B, 1, H, W) depth in metres; valid: bool of the same shape, or None."""
        pred, target = _as_bhw(pred, "pred"), _as_bhw(target, "target")
        if pred.shape != target.shape:
            raise ValueError(
                f"depth pred {tuple(pred.shape)} and target {tuple(target.shape)} shapes differ "
                "(both (B, H, W) or (B, 1, H, W))"
            )
        _check_positive(pred)
        keep = self._valid_mask(target, None if valid is None else _as_bhw(valid, "valid"))  # (B, H, W)
        b = pred.shape[0]
        p = pred.detach().double().reshape(b, -1)  # (B, HW)
        t = target.detach().double().reshape(b, -1)  # (B, HW)
        keep = keep.reshape(b, -1)  # (B, HW)
        if self.median_scaling:
            p = _median_scale(p, t, keep)
        p = p.clamp(self.min_depth, self.max_depth)
        rows, n = _per_image(p, t, keep)  # (B, 7), (B,)
        has = n > 0  # (B,)
        self.sums += rows[has].sum(0).cpu()
        scored = int(has.sum())
        self.images += scored
        self.skipped += b - scored

    def merge(self, other: DepthMetric) -> None:
        """Add ``other``'s sums and counts (another shard of the dataset) to this metric's; ``other`` is unchanged."""
        check_mergeable(self, other, ("min_depth", "max_depth", "eigen_crop", "median_scaling"))
        self.sums += other.sums.to(self.sums.device)
        self.images += other.images
        self.skipped += other.skipped

    def compute(self) -> dict:
        """-> each of NAMES as a float (NaN when no image was scored), "images" scored, "skipped" (no valid pixel)."""
        means = self.sums / self.images if self.images else torch.full_like(self.sums, math.nan)
        out: dict = {name: float(v) for name, v in zip(NAMES, means)}
        out["images"] = self.images
        out["skipped"] = self.skipped
        return out

    def _valid_mask(self, target: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """target (B, H, W) -> (B, H, W) bool: pixels scored."""
        keep = torch.isfinite(target) & (target > self.min_depth) & (target < self.max_depth)
        if valid is not None:
            if valid.shape != target.shape or valid.dtype != torch.bool:
                raise ValueError(
                    f"depth valid mask must be bool of shape {tuple(target.shape)}; "
                    f"got {valid.dtype} {tuple(valid.shape)}"
                )
            keep &= valid.to(keep.device)
        if self.eigen_crop:
            top, bottom, left, right = eigen_crop_bounds(*target.shape[-2:])
            crop = torch.zeros_like(keep[0])  # (H, W)
            crop[top:bottom, left:right] = True
            keep &= crop
        return keep


def _as_bhw(x: torch.Tensor, name: str) -> torch.Tensor:
    """(B, H, W) or (B, 1, H, W) -> (B, H, W)."""
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 3:
        return x
    raise ValueError(f"depth {name} must be (B, H, W) or (B, 1, H, W); got {tuple(x.shape)}")


def _check_positive(pred: torch.Tensor) -> None:
    bad = ~(pred > 0)  # catches NaN as well as <= 0
    if bool(bad.any()):
        raise ValueError(
            f"depth pred must be depth in metres (> 0) at every pixel; {int(bad.sum())} pixels are <= 0 or NaN "
            f"(min {float(pred.min()):.4g}). A log-depth prediction must be exponentiated first: depth = exp(pred)."
        )


def _median_scale(p: torch.Tensor, t: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """p *= median(t) / median(p) per image over its valid pixels (Monodepth2's evaluation); p, t, keep (B, HW)."""
    ratio = torch.ones(p.shape[0], dtype=p.dtype, device=p.device)  # (B,)
    for i in range(p.shape[0]):  # a loop is fine: evaluation, and each image has its own valid count
        if bool(keep[i].any()):
            ratio[i] = _median(t[i][keep[i]]) / _median(p[i][keep[i]])
    return p * ratio[:, None]


def _median(x: torch.Tensor) -> torch.Tensor:
    """Median of a 1-D tensor, the mean of the two middle values for an even count (as numpy.median)."""
    v = x.sort().values
    n = v.numel()
    return (v[(n - 1) // 2] + v[n // 2]) / 2


def _per_image(p: torch.Tensor, t: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """p, t (B, HW) float64, keep (B, HW) -> per-image metric rows (B, 7) in NAMES order, valid counts (B,)."""
    p = torch.where(keep, p, 1.0)  # (B, HW); invalid pixels become a perfect 1 vs 1 and are masked below
    t = torch.where(keep, t, 1.0)  # (B, HW)
    n = keep.sum(1)  # (B,)
    denom = n.clamp_min(1).to(p.dtype)  # (B,)

    def mean(x: torch.Tensor) -> torch.Tensor:  # (B, HW) -> (B,), over valid pixels
        return torch.where(keep, x, 0.0).sum(1) / denom

    err = p - t  # (B, HW)
    ratio = torch.maximum(p / t, t / p)  # (B, HW)
    rows = [
        mean(err.abs() / t),
        mean(err.square() / t),
        mean(err.square()).sqrt(),
        mean((p.log() - t.log()).square()).sqrt(),
        *(mean((ratio < 1.25**k).to(p.dtype)) for k in (1, 2, 3)),
    ]
    return torch.stack(rows, 1), n  # (B, 7), (B,)
