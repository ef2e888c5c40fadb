"""ViTDet-style local attention: blocks that attend only inside non-overlapping windows of the token grid.

ViTDet (Li et al. 2022) and SAM use a plain ViT whose blocks attend within ``w`` x ``w`` windows of the full
grid, except a few evenly spaced global blocks; Win-Win compares against it (Tables 2 and 4). The grid is
padded at the bottom / right to a multiple of ``w`` with zero tokens, and a key mask keeps every real token
from attending to them (ViTDet itself lets them take part), so the result on real tokens is exact: as if the
last row / column of windows were smaller. Padded tokens' outputs are dropped on the way back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .block import Block
from .rope import RoPE2D, RotaryTables


def global_block_indices(depth: int, num_global: int) -> list[int]:
    """``num_global`` evenly spaced block indices ending with the last block: (12, 4) -> [2, 5, 8, 11]."""
    if not 1 <= num_global <= depth:
        raise ValueError(f"the number of global blocks must be in [1, depth={depth}], got {num_global}")
    return [(k + 1) * depth // num_global - 1 for k in range(num_global)]


def _check_grid(x: torch.Tensor, grid_hw: tuple[int, int], window: int) -> None:
    gh, gw = grid_hw
    if x.ndim != 3 or x.shape[1] != gh * gw:
        raise ValueError(
            f"expected the tokens (B, gh*gw={gh * gw}, C) of the full {gh}x{gw} grid in row-major order, "
            f"got {tuple(x.shape)}"
        )
    if window < 1:
        raise ValueError(f"the local window must be >= 1 tokens, got {window}")


def window_partition(x: torch.Tensor, grid_hw: tuple[int, int], window: int) -> torch.Tensor:
    """x: (B, gh*gw, C) row-major grid tokens -> (B*nh*nw, w*w, C) windows, batch-major then row-major, the grid
    zero-padded at the bottom / right to (nh*w, nw*w)."""
    _check_grid(x, grid_hw, window)
    (gh, gw), w = grid_hw, window
    B, _, C = x.shape
    nh, nw = -(-gh // w), -(-gw // w)  # windows per column / row (ceil)
    x = x.reshape(B, gh, gw, C)  # (B, gh, gw, C)
    x = F.pad(x, (0, 0, 0, nw * w - gw, 0, nh * w - gh))  # (B, nh*w, nw*w, C)
    x = x.reshape(B, nh, w, nw, w, C).transpose(2, 3)  # (B, nh, nw, w, w, C)
    return x.reshape(B * nh * nw, w * w, C)  # (B*nh*nw, w*w, C)


def window_unpartition(x: torch.Tensor, grid_hw: tuple[int, int], window: int) -> torch.Tensor:
    """Inverse of ``window_partition``: (B*nh*nw, w*w, C) -> (B, gh*gw, C), padding dropped."""
    (gh, gw), w = grid_hw, window
    nh, nw = -(-gh // w), -(-gw // w)
    if x.ndim != 3 or x.shape[1] != w * w or x.shape[0] % (nh * nw):
        raise ValueError(
            f"expected windows (B*{nh}*{nw}, {w}*{w}, C) of a {gh}x{gw} grid with window {w}, got {tuple(x.shape)}"
        )
    C = x.shape[-1]
    x = x.reshape(-1, nh, nw, w, w, C).transpose(2, 3)  # (B, nh, w, nw, w, C)
    x = x.reshape(-1, nh * w, nw * w, C)[:, :gh, :gw]  # (B, gh, gw, C)
    return x.reshape(-1, gh * gw, C)  # (B, gh*gw, C)


class LocalWindows:
    """What every local block of one forward shares: the grid, the window, the windowed tokens' positions
    (or their RoPE tables) and the key mask of the padding. Computed once per forward.

    Args:
        pos: (B, gh*gw, 2) integer (y, x) positions of the full grid, row-major.
        grid_hw: (gh, gw).
        window: window side in tokens.
        rope, head_dim: when given, ``pos`` holds the RoPE tables of the windowed tokens.
    """

    def __init__(
        self,
        pos: torch.Tensor,
        grid_hw: tuple[int, int],
        window: int,
        rope: RoPE2D | None = None,
        head_dim: int | None = None,
    ) -> None:
        self.grid_hw, self.window = tuple(grid_hw), window
        B, N, _ = pos.shape
        wpos = window_partition(pos, self.grid_hw, window)  # (B*nW, w*w, 2): true (y, x); padding (0, 0)
        self.pos: torch.Tensor | RotaryTables = wpos if rope is None else rope.tables(wpos, head_dim, self.grid_hw)
        self.mask: torch.Tensor | None = None  # (B*nW, 1, 1, w*w), True = real token; None without padding
        gh, gw = self.grid_hw
        if gh % window or gw % window:
            real = torch.ones(1, N, 1, device=pos.device)  # (1, N, 1)
            real = window_partition(real, self.grid_hw, window)[..., 0] > 0  # (nW, w*w)
            self.mask = real.repeat(B, 1)[:, None, None, :]  # (B*nW, 1, 1, w*w)

    @property
    def num_windows(self) -> int:
        """Windows per image: nh * nw."""
        (gh, gw), w = self.grid_hw, self.window
        return -(-gh // w) * -(-gw // w)


class LocalBlock(Block):
    """A ``Block`` (same parameters, same state dict) whose self-attention runs inside the windows of a
    ``LocalWindows``, the windows batched: ``forward(x, local)`` with x (B, gh*gw, C) the full grid."""

    def forward(self, x: torch.Tensor, local: LocalWindows) -> torch.Tensor:  # type: ignore[override]
        """x: (B, gh*gw, C) row-major -> (B, gh*gw, C)."""
        if not isinstance(local, LocalWindows):
            raise TypeError(f"a LocalBlock needs the LocalWindows of the grid, got {type(local).__name__}")
        h = window_partition(self.norm1(x), local.grid_hw, local.window)  # (B*nW, w*w, C)
        h = self.attn(h, local.pos, mask=local.mask)  # (B*nW, w*w, C)
        x = x + self.drop_path(self.ls1(window_unpartition(h, local.grid_hw, local.window)))  # (B, gh*gw, C)
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
