"""Patch embedding that returns tokens with their (y, x) grid positions.

It is a strided convolution (``proj``, CroCo's parameter name) written as patchify + linear, so that a
window batch embeds only the selected patches: ``forward(img, index)`` gathers the patches first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def grid_positions(grid_hw: tuple[int, int], device: torch.device | None = None) -> torch.Tensor:
    """(gh * gw, 2) integer (y, x) positions of a token grid in row-major order."""
    gh, gw = grid_hw
    ys, xs = torch.meshgrid(torch.arange(gh, device=device), torch.arange(gw, device=device), indexing="ij")
    return torch.stack((ys.flatten(), xs.flatten()), dim=-1)  # (gh*gw, 2)


def patchify(img: torch.Tensor, patch: int) -> torch.Tensor:
    """img: (B, C, H, W) with H, W multiples of ``patch`` -> (B, gh*gw, C*patch*patch), row-major tokens."""
    B, C, H, W = img.shape
    gh, gw = H // patch, W // patch
    x = img.reshape(B, C, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5)  # (B, gh, gw, C, p, p)
    return x.reshape(B, gh * gw, C * patch * patch)


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def grid_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        H, W = hw
        p = self.patch_size
        if H % p or W % p:
            raise ValueError(f"image size {H}x{W} is not a multiple of the patch size {p}; pad it first")
        return H // p, W // p

    def forward(self, img: torch.Tensor, index: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """img: (B, C, H, W); index: optional (B, T) row-major token indices to keep.

        Returns tokens (B, T, D) and positions (B, T, 2) integer (y, x); T = gh*gw without ``index``.
        """
        B = img.shape[0]
        grid = self.grid_size(img.shape[-2:])
        pos = grid_positions(grid, img.device).expand(B, -1, -1)  # (B, gh*gw, 2)
        if index is None:
            x = self.proj(img).flatten(2).transpose(1, 2)  # (B, gh*gw, D)
            return x, pos
        patches = patchify(img, self.patch_size)  # (B, gh*gw, C*p*p)
        patches = torch.gather(patches, 1, index[..., None].expand(-1, -1, patches.shape[-1]))  # (B, T, C*p*p)
        x = F.linear(patches, self.proj.weight.flatten(1), self.proj.bias)  # (B, T, D)
        pos = torch.gather(pos, 1, index[..., None].expand(-1, -1, 2))  # (B, T, 2)
        return x, pos
