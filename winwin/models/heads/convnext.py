"""ConvNeXt head (MultiMAE's adapter, Bachmann et al. 2022; used by the paper, Sec. 4.1 and App. E.1).

Tokens -> a sub-pixel feature map at ``upscale`` times the token resolution (a linear layer and pixel
shuffle), a few ConvNeXt blocks, a 1x1 classifier, then bilinear upsampling to the pixel resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv -> LayerNorm -> MLP (4x) with layer scale, residual (Liu et al. 2022)."""

    def __init__(self, dim: int, layer_scale: float = 1e-6, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, padding_mode=padding_mode)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, C, H, W), in channels_last memory (the permutes to and from (B, H, W, C) for
        the LayerNorm and MLP are then views, not copies)."""
        x = x.contiguous(memory_format=torch.channels_last)  # no copy when it already is (blocks after the first)
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C), contiguous
        y = self.fc2(self.act(self.fc1(self.norm(y)))) * self.gamma  # (B, H, W, C)
        return x + y.permute(0, 3, 1, 2)  # (B, C, H, W), channels_last


class ConvNeXtHead(nn.Module):
    layers = (-1,)

    def __init__(
        self,
        embed_dim: int,
        out_channels: int,
        patch_size: int,
        dim: int = 96,
        depth: int = 2,
        upscale: int = 4,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        if patch_size % upscale:
            raise ValueError(f"ConvNeXt head upscale {upscale} must divide the patch size {patch_size}")
        self.patch_size, self.upscale = patch_size, upscale
        self.proj = nn.Linear(embed_dim, dim * upscale * upscale)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(dim, padding_mode=padding_mode) for _ in range(depth)))
        self.classifier = nn.Conv2d(dim, out_channels, kernel_size=1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """maps: [(B, D, h, w)] -> (B, K, h*p, w*p)."""
        x = maps[-1]
        h, w = x.shape[-2:]
        x = self.proj(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, dim*u*u, h, w)
        x = F.pixel_shuffle(x, self.upscale)  # (B, dim, h*u, w*u)
        x = self.classifier(self.blocks(x))  # (B, K, h*u, w*u)
        if self.patch_size == self.upscale:
            return x
        return F.interpolate(x, size=(h * self.patch_size, w * self.patch_size), mode="bilinear", align_corners=False)
