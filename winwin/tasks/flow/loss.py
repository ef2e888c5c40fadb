"""Optical-flow training losses over flattened pixels, valid pixels only.

``laplacian_loss`` is the negative log-likelihood of a Laplace distribution whose scale the network predicts
with the flow, with the scale bounded to [a, b] by a sigmoid: the loss of CroCo-Stereo / CroCo-Flow
(Weinzaepfel et al. 2023, "CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching and
Optical Flow"), a = 0.25 and b = 4 there. Per pixel, with e = gt - pred and c' the bounded scale,

    loss = |e|_1 / c' + log c'        (|e|_1 = |e_u| + |e_v|)

whose minimum over c' lies at c' = |e|_1 (d/dc' = (c' - |e|_1) / c'^2), so c' learns the expected error and
serves as a confidence. ``epe_loss`` is the mean end-point error, for a model without a confidence channel.

Both average over the valid pixels of the whole batch (a pixel counts once, whichever image it is in).
A pixel marked valid whose target is not finite is treated as invalid; invalid targets are replaced by 0
with ``torch.where`` before any arithmetic, so NaN ground truth puts no NaN into the graph. With no valid
pixel the loss is 0 and still depends on the output (its gradient is 0).
"""

from __future__ import annotations

import torch

# sqrt is clamped here: d ||e|| / de = e / ||e|| is undefined at a perfect prediction (e = 0).
_NORM_EPS = 1e-12


def bounded_confidence(c: torch.Tensor, a: float = 0.25, b: float = 4.0) -> torch.Tensor:
    """Raw confidence c (any real, any shape) -> the Laplace scale c' = (b - a) * sigmoid(c) + a in (a, b)."""
    _check_bounds(a, b)
    return (b - a) * torch.sigmoid(c) + a


def laplacian_loss(
    output: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, a: float = 0.25, b: float = 4.0
) -> torch.Tensor:
    """Bounded Laplacian loss (module docstring), mean over valid pixels; a scalar.

    output: (B, 3, P) raw (u, v, c) over P flattened pixels; target: (B, 2, P) flow (u, v); valid: (B, P) bool.
    E.g. c = 0 gives c' = a + (b - a) / 2 = 2.125 with the defaults. Computed in float32 at least.
    """
    _check_bounds(a, b)
    _check_shapes(output, target, valid, channels=3)
    err, keep = _error(output[:, :2], target, valid)  # (B, 2, P), (B, P)
    conf = bounded_confidence(output[:, 2].float(), a, b)  # (B, P)
    per_pixel = err.abs().sum(1) / conf + conf.log()  # (B, P)
    return _mean_over_valid(per_pixel, keep)


def epe_loss(output: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean end-point error ||pred - gt||_2 over valid pixels; a scalar.

    output: (B, 2, P) flow (u, v); target: (B, 2, P); valid: (B, P) bool. The norm is taken as
    sqrt(|e|^2 + 1e-12) so that its gradient stays finite at a perfect prediction.
    """
    _check_shapes(output, target, valid, channels=2)
    err, keep = _error(output, target, valid)  # (B, 2, P), (B, P)
    per_pixel = (err.square().sum(1) + _NORM_EPS).sqrt()  # (B, P)
    return _mean_over_valid(per_pixel, keep)


def _error(flow: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """flow, target (B, 2, P), valid (B, P) -> e = gt - flow (B, 2, P) float32, 0 where not kept; keep (B, P)."""
    keep = valid & torch.isfinite(target).all(1)  # (B, P)
    gt = torch.where(keep[:, None], target.float(), 0.0)  # (B, 2, P); never NaN
    flow = flow.float()
    return torch.where(keep[:, None], gt - flow, 0.0), keep


def _mean_over_valid(per_pixel: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of per_pixel (B, P) over keep (B, P); 0 / 1 with a gradient path to the output when none is kept."""
    return torch.where(keep, per_pixel, 0.0).sum() / keep.sum().clamp_min(1)


def _check_bounds(a: float, b: float) -> None:
    if not 0.0 < a < b:
        raise ValueError(f"bounded confidence needs 0 < a < b (CroCo-Flow: a = 0.25, b = 4); got a {a}, b {b}")


def _check_shapes(output: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, channels: int) -> None:
    what = "(u, v, c)" if channels == 3 else "(u, v)"
    if output.ndim != 3 or output.shape[1] != channels:
        raise ValueError(f"flow output must be (B, {channels}, P) {what}; got {tuple(output.shape)}")
    b, _, p = output.shape
    if tuple(target.shape) != (b, 2, p):
        raise ValueError(f"flow target must be (B, 2, P) = {(b, 2, p)}; got {tuple(target.shape)}")
    if tuple(valid.shape) != (b, p) or valid.dtype != torch.bool:
        raise ValueError(
            f"flow valid mask must be bool of shape (B, P) = {(b, p)}; got {valid.dtype} {tuple(valid.shape)}"
        )
