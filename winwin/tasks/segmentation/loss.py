"""Segmentation loss: cross-entropy over the supervised pixels (paper Sec. 3: the window pixels only)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the valid pixels: logits (B, K, P), labels (B, P) int, valid (B, P) bool.

    Computed in float32 (bf16 logits are cast); 0 when no pixel is valid. No host synchronisation."""
    labels = torch.where(valid, labels, torch.full_like(labels, -100))  # -100: ignored by F.cross_entropy
    per_pixel = F.cross_entropy(logits.float(), labels, ignore_index=-100, reduction="none")  # (B, P), 0 if ignored
    return per_pixel.sum() / valid.sum().clamp(min=1)
