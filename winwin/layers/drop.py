"""Stochastic depth (DropPath), per sample."""

from __future__ import annotations

import torch
from torch import nn


def drop_path(x: torch.Tensor, prob: float, training: bool) -> torch.Tensor:
    if prob == 0.0 or not training:
        return x
    keep = 1.0 - prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)  # (B, 1, ...)
    return x * mask / keep


class DropPath(nn.Module):
    def __init__(self, prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= prob < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {prob}")
        self.prob = prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.prob, self.training)

    def extra_repr(self) -> str:
        return f"prob={self.prob:g}"
