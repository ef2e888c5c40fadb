"""2D rotary position embedding (RoPE): CroCo's parameterisation, and DINOv3's as an option.

``RoPE2D()`` is CroCo's (``models/pos_embed.py``): the head dimension D is split in two halves, the first
rotated by the token's y position, the second by its x position. Inside a half of size d = D/2, the inverse
frequencies are base^(-2i/d) for i < d/2 and the rotation uses the non-interleaved "rotate half" convention
(Su et al. 2021): the pairs are (j, j + D/4) inside a half. The angles are the integer grid positions times
the inverse frequencies.

``RoPE2D(coords="normalized", layout="dinov3")`` is DINOv3's (``RopePositionEmbedding``, normalize_coords
"separate"), with m = D/4 periods p_i = base^(i/m):

- position rule ``coords="normalized"``: the token in row r, column c of an h x w grid has the coordinates
  y = 2(r + 0.5)/h - 1 and x = 2(c + 0.5)/w - 1 (each axis over (-1, 1)), and the angles 2 pi y / p_i,
  2 pi x / p_i. The grid is the full image's: a window batch keeps the coordinates its tokens have in the
  image, never coordinates normalised by the window.
- channel layout ``layout="dinov3"``: rotate-half over the whole of D, the pairs are (j, j + D/2), and the
  half-length angle list is [y angles, x angles], so the first and third quarters of D carry y and the
  second and fourth carry x.

Angles are computed from the positions passed with the tokens, so any position works, including the
scattered positions of a window batch.

A model computes the cos / sin tables of its tokens once per forward (``RoPE2D.tables``) and hands them to
every layer: ``x * cos + rotate(x) * sin``, where ``rotate`` swaps the quarters [a, b, c, d] of D to
[b, a, d, c] (one ``flip``; DINOv3's layout: the halves, [c, d, a, b]) and the signs of rotate-half live in the
sin table. The same tables may hold one set per head (``RoPEMixed`` in ``rope_mixed.py``, learned mixed-axis
frequencies). Tokens without a position (a class token, storage tokens) get the identity rotation
(``RotaryTables.with_prefix``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

COORDS = ("index", "normalized")
LAYOUTS = ("croco", "dinov3")


class RotaryTables:
    """cos and signed sin of one set of token positions, each (B, 1, N, D) float32 (shared by the heads,
    RoPE2D) or (B, H, N, D) (one table per head, RoPEMixed); cast once per dtype.

    ``span`` is the distance between the two channels of a rotated pair: D/4 (CroCo's layout: along D the y
    half then the x half, inside each half the quarters hold (cos, cos) and (-sin, sin)) or D/2 (DINOv3's:
    the halves hold (cos, cos) and (-sin, sin)).
    """

    def __init__(self, cos: torch.Tensor, sin: torch.Tensor, span: int | None = None) -> None:
        if cos.ndim != 4 or cos.shape != sin.shape:
            raise ValueError(
                f"RoPE tables must be cos and sin of one shape (B, 1|H, N, D), got {cos.shape}, {sin.shape}"
            )
        D = cos.shape[-1]
        self.span = D // 4 if span is None else span
        if self.span not in (D // 4, D // 2):
            raise ValueError(f"a rotated pair spans D/4 or D/2 channels, got {self.span} for D = {D}")
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
        # each pair's partner: (..., B, h, N, D) [a, b, c, d] -> [b, a, d, c] (span D/4) or [c, d, a, b] (D/2)
        swapped = x.unflatten(-1, (D // (2 * self.span), 2, self.span)).flip(-2).flatten(-3)
        return x * cos + swapped * sin  # (..., B, h, N, D)

    def with_prefix(self, n: int) -> RotaryTables:
        """These tables after ``n`` tokens that are not rotated (cos 1, sin 0: class and storage tokens):
        (B, 1|H, n + N, D)."""
        if n == 0:
            return self
        B, H, _, D = self.cos.shape
        one = self.cos.new_ones(B, H, n, D)  # (B, 1|H, n, D)
        cos, sin = torch.cat((one, self.cos), dim=2), torch.cat((one * 0, self.sin), dim=2)  # (B, 1|H, n+N, D)
        return RotaryTables(cos, sin, self.span)


class RoPE2D(nn.Module):
    """Rotate queries or keys by their 2D token positions.

    Args:
        base: base frequency (CroCo's ``RoPE100`` and DINOv3 use 100).
        coords: "index" (CroCo: the integer grid positions) or "normalized" (DINOv3: each axis mapped to
            (-1, 1) by the full grid's size, times 2 pi); "normalized" needs the grid in ``tables``.
        layout: "croco" (y half then x half, pairs (j, j + D/4)) or "dinov3" (pairs (j, j + D/2), y and x
            quarters alternating).
    """

    def __init__(self, base: float = 100.0, coords: str = "index", layout: str = "croco") -> None:
        super().__init__()
        if base <= 1.0:
            raise ValueError(f"RoPE base frequency must be > 1, got {base}")
        if coords not in COORDS or layout not in LAYOUTS:
            raise ValueError(
                f"RoPE2D coords must be one of {COORDS} and layout one of {LAYOUTS}, got {coords!r}, {layout!r}"
            )
        self.base, self.coords, self.layout = float(base), coords, layout

    def coordinates(self, pos: torch.Tensor, grid_hw: tuple[int, int] | None) -> torch.Tensor:
        """pos: (B, N, 2) integer (y, x) -> (B, N, 2) float32 values the angles are proportional to."""
        if self.coords == "index":
            return pos.to(torch.float32)
        if grid_hw is None:
            raise ValueError("RoPE2D(coords='normalized') needs the full image's token grid (gh, gw)")
        size = torch.tensor(grid_hw, dtype=torch.float32, device=pos.device)  # (2,): (gh, gw)
        return (2.0 * (pos.to(torch.float32) + 0.5) / size - 1.0) * (2 * math.pi)  # (B, N, 2) in (-2pi, 2pi)

    def tables(self, pos: torch.Tensor, head_dim: int, grid_hw: tuple[int, int] | None = None) -> RotaryTables:
        """pos: (B, N, 2) integer (y, x) -> the tables of those tokens for heads of size ``head_dim``;
        ``grid_hw``: the full grid (gh, gw) the positions are in (needed by ``coords="normalized"``)."""
        if pos.ndim != 3 or pos.shape[-1] != 2:
            raise ValueError(f"RoPE2D expects positions (B, N, 2), got {tuple(pos.shape)}")
        if head_dim % 4 != 0:
            raise ValueError(f"RoPE2D needs a head dimension divisible by 4, got {head_dim}")
        if self.layout == "dinov3":
            return self._dinov3_tables(self.coordinates(pos, grid_hw), head_dim)
        B, N, _ = pos.shape
        d = head_dim // 2  # one half: y or x
        # float32 angles like CroCo: (B, N, 2, d/2) = (y, x) position * inverse frequency
        inv_freq = self.base ** (-torch.arange(0, d, 2, device=pos.device, dtype=torch.float32) / d)  # (d/2,)
        angles = self.coordinates(pos, grid_hw)[..., None] * inv_freq  # (B, N, 2, d/2)
        angles = angles[:, :, :, None, :].expand(B, N, 2, 2, d // 2)  # (B, N, half, quarter, d/2)
        sign = torch.tensor([-1.0, 1.0], device=pos.device)[:, None]  # (quarter, 1): rotate-half's signs
        cos = angles.cos().reshape(B, 1, N, head_dim)  # (B, 1, N, D)
        sin = (angles.sin() * sign).reshape(B, 1, N, head_dim)  # (B, 1, N, D)
        return RotaryTables(cos, sin)

    def _dinov3_tables(self, coords: torch.Tensor, head_dim: int) -> RotaryTables:
        """coords: (B, N, 2) (y, x) -> DINOv3's tables: angles coords / p_i, [y angles, x angles] twice."""
        B, N, _ = coords.shape
        m = head_dim // 4
        periods = self.base ** (torch.arange(m, device=coords.device, dtype=torch.float32) / m)  # (m,)
        angles = (coords[..., None] / periods).flatten(-2)  # (B, N, 2m): y angles then x angles
        angles = angles.repeat(1, 1, 2)[:, None]  # (B, 1, N, D)
        sign = torch.tensor([-1.0, 1.0], device=coords.device).repeat_interleave(2 * m)  # (D,): rotate-half
        return RotaryTables(angles.cos(), angles.sin() * sign, span=2 * m)

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
        return f"base={self.base:g}, coords={self.coords}, layout={self.layout}"
