"""Monocular-depth training losses on log depth, over valid pixels only.

The model predicts log depth (any real number; depth = exp(pred) > 0). Both losses work on the per-pixel
log error ``d = pred_log - log(target)`` of one image's valid pixels, reduce it per image, then average over
the images that have at least one valid pixel (each image weighs the same, however many pixels it has).

Invalid pixels never reach ``log``: their target is replaced by 1 with ``torch.where`` *before* the log,
and their error by 0, so targets of 0, NaN or below 0 put no NaN or inf into the graph (forward or
backward). A pixel marked valid whose target is not a finite positive depth is treated as invalid too:
there is no log depth to compare with, and checking it here would cost a device sync.
"""

from __future__ import annotations

import torch

# sqrt is clamped here: d sqrt(L) / dL = 1 / (2 sqrt(L)) is infinite at a perfect prediction (L = 0).
_SQRT_EPS = 1e-8


def silog_loss(
    pred_log: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, lam: float = 0.85, sqrt: bool = False
) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al. 2014, "Depth Map Prediction from a Single Image using a
    Multi-Scale Deep Network", Eq. 4), per image, averaged over images with a valid pixel.

    pred_log: (B, P) predicted log depth; target: (B, P) depth in metres; valid: (B, P) bool.
    Per image, over its n valid pixels: ``L = mean(d^2) - lam * mean(d)^2``. ``lam = 1`` is fully scale
    invariant (pred = log(target) + c costs 0 for any c), ``lam = 0`` is the plain mean squared log error;
    Eigen et al. train with 0.5, BTS and AdaBins with 0.85.

    We return the plain Eigen form L by default. ``sqrt=True`` returns sqrt(L) per image, the form of BTS
    (Lee et al. 2019) and AdaBins (Bhat et al. 2021), who also multiply by 10: that factor is a loss
    weight and is left to the caller. L is clamped to 1e-8 before the sqrt so the gradient stays finite.

    L is computed as ``var(d) + (1 - lam) * mean(d)^2``, the same quantity (mean(d^2) = var(d) + mean(d)^2)
    without the cancellation of two large numbers when the prediction is off by a large global scale.
    Computed in float32 whatever the dtype of ``pred_log``. Returns a scalar; 0 (with a gradient path to
    ``pred_log``) when no image has a valid pixel.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"silog lam must be in [0, 1] (1: scale invariant, 0: squared log error); got {lam}")
    d, keep, n = _log_error(pred_log, target, valid)  # (B, P), (B, P), (B,)
    mean_d = d.sum(1) / n.clamp_min(1)  # (B,)
    centred = torch.where(keep, d - mean_d[:, None], 0.0)  # (B, P)
    per_image = centred.square().sum(1) / n.clamp_min(1) + (1.0 - lam) * mean_d.square()  # (B,)
    if sqrt:
        per_image = per_image.clamp_min(_SQRT_EPS).sqrt()
    return _mean_over_images(per_image, n)


def l1_log_loss(pred_log: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean absolute log error: per image mean |pred_log - log(target)| over its valid pixels, then mean over
    the images with a valid pixel. Shapes and empty handling as :func:`silog_loss`."""
    d, _, n = _log_error(pred_log, target, valid)  # (B, P), (B, P), (B,)
    per_image = d.abs().sum(1) / n.clamp_min(1)  # (B,)
    return _mean_over_images(per_image, n)


def _log_error(
    pred_log: torch.Tensor, target: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> d (B, P) float32 log error, 0 on invalid pixels; keep (B, P) bool; n (B,) float32 valid count."""
    _check_shapes(pred_log, target, valid)
    target = target.float()
    keep = valid & torch.isfinite(target) & (target > 0)  # (B, P)
    log_target = torch.where(keep, target, 1.0).log()  # (B, P); never the log of an invalid pixel
    d = torch.where(keep, pred_log.float() - log_target, 0.0)  # (B, P)
    return d, keep, keep.sum(1).float()


def _mean_over_images(per_image: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Mean of per_image (B,) over the images with n > 0 valid pixels; 0 with a gradient path if none."""
    has = n > 0  # (B,)
    # where (not a product) so an image without valid pixels contributes 0 even if its value were NaN;
    # with no valid image this is 0 / 1 and still depends on pred_log through d, as pred.sum() * 0 would.
    return torch.where(has, per_image, 0.0).sum() / has.sum().clamp_min(1)


def _check_shapes(pred_log: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> None:
    if pred_log.ndim != 2 or pred_log.shape != target.shape or pred_log.shape != valid.shape:
        raise ValueError(
            "depth loss expects pred_log, target and valid of one shape (B, P) (pixels flattened per image); "
            f"got pred_log {tuple(pred_log.shape)}, target {tuple(target.shape)}, valid {tuple(valid.shape)}"
        )
    if valid.dtype != torch.bool:
        raise ValueError(f"depth loss expects a bool valid mask; got {valid.dtype}")
