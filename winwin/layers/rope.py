"""2D rotary position embedding (RoPE), CroCo's parameterisation.

The head dimension D is split in two halves: the first half is rotated by the token's y position, the
second by its x position. Inside a half of size d = D/2, the inverse frequencies are base^(-2i/d) for
i < d/2 and the rotation uses the non-interleaved "rotate half" convention (Su et al. 2021; CroCo's
``models/pos_embed.py``). Angles are computed from the positions passed with the tokens, so any position
works, including the scattered positions of a window batch.
"""

from __future__ import annotations

import torch
from torch import nn


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RoPE2D(nn.Module):
    """Rotate queries or keys by their 2D token positions.

    Args:
        base: base frequency (CroCo's ``RoPE100`` uses 100).
    """

    def __init__(self, base: float = 100.0) -> None:
        super().__init__()
        if base <= 1.0:
            raise ValueError(f"RoPE base frequency must be > 1, got {base}")
        self.base = float(base)

    def _cos_sin(self, pos1d: torch.Tensor, d: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        # pos1d: (B, N) integer -> cos, sin: (B, 1, N, d), computed in float32 like CroCo, then cast.
        inv_freq = self.base ** (-torch.arange(0, d, 2, device=pos1d.device, dtype=torch.float32) / d)  # (d/2,)
        angles = pos1d.to(torch.float32)[..., None] * inv_freq  # (B, N, d/2)
        angles = torch.cat((angles, angles), dim=-1)[:, None]  # (B, 1, N, d)
        return angles.cos().to(dtype), angles.sin().to(dtype)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (B, heads, N, D) queries or keys; pos: (B, N, 2) integer (y, x). Returns (B, heads, N, D)."""
        if x.ndim != 4 or pos.ndim != 3 or pos.shape[-1] != 2:
            raise ValueError(
                f"RoPE2D expects x (B, heads, N, D) and pos (B, N, 2), got {tuple(x.shape)} and {tuple(pos.shape)}"
            )
        if pos.shape[:2] != (x.shape[0], x.shape[2]):
            raise ValueError(
                f"RoPE2D got {tuple(pos.shape[:2])} (batch, tokens) positions for x with batch {x.shape[0]} "
                f"and {x.shape[2]} tokens"
            )
        if x.shape[-1] % 4 != 0:
            raise ValueError(f"RoPE2D needs a head dimension divisible by 4, got {x.shape[-1]}")
        d = x.shape[-1] // 2
        out = []
        for half, p in zip(x.chunk(2, dim=-1), (pos[..., 0], pos[..., 1])):  # y half, x half
            cos, sin = self._cos_sin(p, d, x.dtype)
            out.append(half * cos + _rotate_half(half) * sin)
        return torch.cat(out, dim=-1)  # (B, heads, N, D)

    def extra_repr(self) -> str:
        return f"base={self.base:g}"
