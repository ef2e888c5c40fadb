"""2D rotary position embedding (RoPE), CroCo's parameterisation.

The head dimension D is split in two halves: the first half is rotated by the token's y position, the
second by its x position. Inside a half of size d = D/2, the inverse frequencies are base^(-2i/d) for
i < d/2 and the rotation uses the non-interleaved "rotate half" convention (Su et al. 2021; CroCo's
``models/pos_embed.py``). Angles are computed from the positions passed with the tokens, so any position
works, including the scattered positions of a window batch.

A model computes the cos / sin tables of its tokens once per forward (``RoPE2D.tables``) and hands them to
every layer: ``x * cos + rotate(x) * sin``, where ``rotate`` swaps the quarters [a, b, c, d] of D to
[b, a, d, c] (one ``flip``) and the signs of rotate-half, [-b, a, -d, c], live in the sin table. The same
tables may hold one set per head (``RoPEMixed`` in ``rope_mixed.py``, learned mixed-axis frequencies).
"""

from __future__ import annotations

import torch
from torch import nn


class RotaryTables:
    """cos and signed sin of one set of token positions, each (B, 1, N, D) float32 (shared by the heads,
    RoPE2D) or (B, H, N, D) (one table per head, RoPEMixed); cast once per dtype.

    Along D: the y half then the x half; inside each half the quarters hold (cos, cos) and (-sin, sin). A
    rotated pair is (j, j + D/4) inside a half.
    """

    def __init__(self, cos: torch.Tensor, sin: torch.Tensor) -> None:
        if cos.ndim != 4 or cos.shape != sin.shape:
            raise ValueError(
                f"RoPE tables must be cos and sin of one shape (B, 1|H, N, D), got {cos.shape}, {sin.shape}"
            )
        self.cos, self.sin = cos, sin  # (B, 1|H, N, D) float32
        self._cast: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {cos.dtype: (cos, sin)}

    @property
    def shape(self) -> tuple[int, int, int]:
        """(B, N, D): batch, tokens, head dimension."""
        B, _, N, D = self.cos.shape
        return B, N, D

    @property
    def heads(self) -> int:
        """1 when the heads share the tables, else the number of heads H they are for."""
        return self.cos.shape[1]

    def cast(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, signed sin) in ``dtype``, each (B, 1|H, N, D); the cast is made on the first call only."""
        if dtype not in self._cast:
            self._cast[dtype] = (self.cos.to(dtype), self.sin.to(dtype))
        return self._cast[dtype]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., B, heads, N, D) -> rotated, same shape (q and k may be stacked in front)."""
        B, N, D = self.shape
        H = self.heads
        if x.ndim < 4 or (x.shape[-4], x.shape[-2], x.shape[-1]) != (B, N, D) or H not in (1, x.shape[-3]):
            raise ValueError(
                f"RoPE tables for (B, heads, N, D) = {(B, H, N, D)} do not fit x of shape {tuple(x.shape)}"
            )
        cos, sin = self.cast(x.dtype)
        swapped = x.unflatten(-1, (2, 2, D // 4)).flip(-2).flatten(-3)  # (..., B, h, N, D): [b, a, d, c]
        return x * cos + swapped * sin  # (..., B, h, N, D)


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

    def tables(self, pos: torch.Tensor, head_dim: int) -> RotaryTables:
        """pos: (B, N, 2) integer (y, x) -> the tables of those tokens for heads of size ``head_dim``."""
        if pos.ndim != 3 or pos.shape[-1] != 2:
            raise ValueError(f"RoPE2D expects positions (B, N, 2), got {tuple(pos.shape)}")
        if head_dim % 4 != 0:
            raise ValueError(f"RoPE2D needs a head dimension divisible by 4, got {head_dim}")
        B, N, _ = pos.shape
        d = head_dim // 2  # one half: y or x
        # float32 angles like CroCo: (B, N, 2, d/2) = (y, x) position * inverse frequency
        inv_freq = self.base ** (-torch.arange(0, d, 2, device=pos.device, dtype=torch.float32) / d)  # (d/2,)
        angles = pos.to(torch.float32)[..., None] * inv_freq  # (B, N, 2, d/2)
        angles = angles[:, :, :, None, :].expand(B, N, 2, 2, d // 2)  # (B, N, half, quarter, d/2)
        sign = torch.tensor([-1.0, 1.0], device=pos.device)[:, None]  # (quarter, 1): rotate-half's signs
        cos = angles.cos().reshape(B, 1, N, head_dim)  # (B, 1, N, D)
        sin = (angles.sin() * sign).reshape(B, 1, N, head_dim)  # (B, 1, N, D)
        return RotaryTables(cos, sin)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | RotaryTables) -> torch.Tensor:
        """x: (B, heads, N, D) queries or keys; pos: (B, N, 2) integer (y, x), or their tables.
        Returns (B, heads, N, D)."""
        if isinstance(pos, RotaryTables):
            if x.ndim != 4:
                raise ValueError(f"RoPE2D expects x (B, heads, N, D), got {tuple(x.shape)}")
            return pos.apply(x)  # (B, heads, N, D)
        if x.ndim != 4 or pos.ndim != 3 or pos.shape[-1] != 2:
            raise ValueError(
                f"RoPE2D expects x (B, heads, N, D) and pos (B, N, 2), got {tuple(x.shape)} and {tuple(pos.shape)}"
            )
        if pos.shape[:2] != (x.shape[0], x.shape[2]):
            raise ValueError(
                f"RoPE2D got {tuple(pos.shape[:2])} (batch, tokens) positions for x with batch {x.shape[0]} "
                f"and {x.shape[2]} tokens"
            )
        return self.tables(pos, x.shape[-1]).apply(x)  # (B, heads, N, D)

    def extra_repr(self) -> str:
        return f"base={self.base:g}"
