"""Linear head: each token predicts its patch's p x p pixels (sub-pixel layout)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LinearHead(nn.Module):
    layers = (-1,)  # encoder outputs it reads: the final normed tokens

    def __init__(self, embed_dim: int, out_channels: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(embed_dim, out_channels * patch_size * patch_size)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """maps: [(B, D, h, w)] -> (B, K, h*p, w*p)."""
        x = maps[-1].permute(0, 2, 3, 1)  # (B, h, w, D)
        x = self.proj(x).permute(0, 3, 1, 2)  # (B, K*p*p, h, w)
        return F.pixel_shuffle(x, self.patch_size)  # (B, K, h*p, w*p)
