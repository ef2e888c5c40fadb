"""Semantic segmentation: cross-entropy on window pixels (training) or on the full image (validation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import DenseModel
from ..windows import Windows, crop_window_pixels

IGNORE_INDEX = 255


def window_loss(model: DenseModel, images: torch.Tensor, labels: torch.Tensor, windows: Windows | None) -> torch.Tensor:
    """Mean cross-entropy over the pixels of all windows (paper Sec. 3: the loss covers window pixels only).

    images: (B, 3, H, W), labels: (B, H, W) with H, W multiples of the patch size. ``windows=None`` is
    full-resolution training.
    """
    if windows is None:
        return full_loss(model, images, labels)
    logits = model.forward_windows(images, windows)  # per window (B, K, h*p, w*p)
    targets = crop_window_pixels(labels, windows, model.patch_size)  # per window (B, h*p, w*p)
    flat_logits = torch.cat([lg.permute(0, 2, 3, 1).reshape(-1, lg.shape[1]) for lg in logits])  # (P, K)
    flat_targets = torch.cat([t.reshape(-1) for t in targets])  # (P,)
    return F.cross_entropy(flat_logits.float(), flat_targets, ignore_index=IGNORE_INDEX)


def full_loss(model: DenseModel, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the full-image prediction, one forward: images (B, 3, H, W), labels (B, H, W)."""
    return F.cross_entropy(model(images).float(), labels, ignore_index=IGNORE_INDEX)
