"""Backward warping by a flow field, and the photometric error it leaves: a ground-truth-free check of a flow.

Frame-1 pixel (row i, column j) moves to (x, y) = (j + u, i + v) in frame 2 (pixel centres at integer
coordinates, as everywhere in winwin). Warping frame 2 back samples it bilinearly there; where the flow is
right and the point is visible in both frames, the warped frame 2 equals frame 1 up to lighting and noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def backward_warp(image2: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """image2 (B, C, H, W), flow (B, 2, H, W) (u, v) px -> frame 2 sampled at every frame-1 pixel's end point
    (B, C, H, W) and where that end point lies inside frame 2 (B, H, W) bool."""
    if image2.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2 or flow.shape[-2:] != image2.shape[-2:]:
        raise ValueError(
            f"expected image2 (B, C, H, W) and flow (B, 2, H, W) of the same size; got {tuple(image2.shape)} "
            f"and {tuple(flow.shape)}"
        )
    b, _, h, w = flow.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=flow.dtype, device=flow.device),
        torch.arange(w, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )  # (H, W) each
    x = xs + flow[:, 0]  # (B, H, W) end points
    y = ys + flow[:, 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)  # (B, H, W)
    grid = torch.stack([2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1], dim=-1)  # (B, H, W, 2) in [-1, 1]
    warped = F.grid_sample(image2.to(flow.dtype), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return warped, inside


def photometric_error(image1: torch.Tensor, image2: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (per image, over channels and the pixels whose end point is inside frame 2)
    between frame 1 and frame 2 warped back by ``flow``: (B,). Images in any common scale (e.g. 0..255)."""
    warped, inside = backward_warp(image2, flow)  # (B, C, H, W), (B, H, W)
    diff = (warped - image1.to(warped.dtype)).abs().mean(1)  # (B, H, W)
    return torch.where(inside, diff, 0.0).sum((1, 2)) / inside.sum((1, 2)).clamp_min(1)
