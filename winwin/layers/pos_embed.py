"""Absolute 2D sine-cosine position embedding, computed from token positions (the paper's ablation,
Sec. 4.1 "Impact of positional embeddings"). Half the channels encode y, half encode x (MAE's layout)."""

from __future__ import annotations

import torch


def cosine_pos_embed(pos: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """pos: (B, N, 2) integer (y, x) -> (B, N, dim) float32 embedding to add to the tokens."""
    if dim % 4 != 0:
        raise ValueError(f"cosine position embedding needs dim divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, device=pos.device, dtype=torch.float32) / quarter)  # (dim/4,)
    parts = []
    for axis in (0, 1):  # y then x
        angles = pos[..., axis].to(torch.float32)[..., None] * omega  # (B, N, dim/4)
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=-1)  # (B, N, dim)
