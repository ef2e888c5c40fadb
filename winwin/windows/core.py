"""The ``Windows`` record: which tokens of a grid a batch keeps, and how to turn them back into maps."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Windows:
    """Non-overlapping rectangles of tokens (plus optional isolated tokens) kept from a token grid.

    Every row of the batch has the same window sizes (in the same order), so that the head can process
    window ``i`` of all rows as one (B, C, h_i, w_i) feature map; their positions differ per row.

    Attributes:
        boxes: (B, N, 4) long, (top, left, height, width) in tokens.
        index: (B, T) long, row-major flat token indices ``y * grid_w + x``, window after window
            (row-major inside each), then the ``num_extra`` isolated tokens.
        pos: (B, T, 2) long, the (y, x) position of each kept token.
        grid_hw: (grid_h, grid_w) of the full token grid.
        num_extra: isolated tokens appended after the windows (Appendix C); no head, no loss.
        hw: (height, width) of each window, shared by all rows, kept on the host: read from ``boxes`` once
            when the record is made (where the windows are sampled, on the CPU), so that the model and the
            loss never read a device tensor back to learn a window's size.
    """

    boxes: torch.Tensor
    index: torch.Tensor
    pos: torch.Tensor
    grid_hw: tuple[int, int]
    num_extra: int = 0
    hw: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        if self.hw is None:
            object.__setattr__(self, "hw", tuple((int(h), int(w)) for h, w in self.boxes[0, :, 2:].tolist()))

    @property
    def batch_size(self) -> int:
        return self.boxes.shape[0]

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(height, width) of each window, shared by all rows."""
        return list(self.hw)

    @property
    def num_window_tokens(self) -> int:
        return sum(h * w for h, w in self.sizes)

    @property
    def num_tokens(self) -> int:
        return self.index.shape[1]

    def to(self, device: torch.device | str) -> Windows:
        """On ``device``; from pinned memory the copies are asynchronous (``non_blocking``)."""
        move = {"device": device, "non_blocking": True}
        return Windows(
            self.boxes.to(**move), self.index.to(**move), self.pos.to(**move), self.grid_hw, self.num_extra, self.hw
        )

    def pin_memory(self) -> Windows:
        """In page-locked memory (what the DataLoader's ``pin_memory`` calls on a batch's custom types)."""
        return Windows(
            self.boxes.pin_memory(),
            self.index.pin_memory(),
            self.pos.pin_memory(),
            self.grid_hw,
            self.num_extra,
            self.hw,
        )

    def part(self, rank: int, world: int) -> Windows:
        """Rows ``rank * B / world`` to ``(rank + 1) * B / world``: one process's share of windows drawn for a
        global batch of ``B`` rows (distributed training draws once for the global batch, so every process
        keeps the same window sizes and the draw does not depend on how the batch is split)."""
        B = self.batch_size
        if world < 1 or not 0 <= rank < world or B % world:
            raise ValueError(f"cannot take part {rank} of {world} of a batch of {B} rows (B must divide evenly)")
        if world == 1:
            return self
        rows = slice(rank * B // world, (rank + 1) * B // world)
        return Windows(self.boxes[rows], self.index[rows], self.pos[rows], self.grid_hw, self.num_extra, self.hw)

    def split_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Tokens (B, T, C) in this order -> one feature map (B, C, h_i, w_i) per window (extras dropped)."""
        B, T, C = x.shape
        if self.num_tokens != T:
            raise ValueError(f"got {T} tokens for windows holding {self.num_tokens}")
        maps, start = [], 0
        for h, w in self.sizes:
            chunk = x[:, start : start + h * w]  # (B, h*w, C)
            maps.append(chunk.transpose(1, 2).reshape(B, C, h, w))  # (B, C, h, w)
            start += h * w
        return maps

    @staticmethod
    def full(grid_hw: tuple[int, int], batch_size: int, device: torch.device | str | None = None) -> Windows:
        """One window covering the whole grid (what a full-resolution forward sees)."""
        gh, gw = grid_hw
        boxes = torch.tensor([0, 0, gh, gw], device=device).expand(batch_size, 1, 4).clone()
        return from_boxes(boxes, grid_hw)


def grid_map(x: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """Tokens of a full grid in row-major order (B, gh*gw, C) -> feature map (B, C, gh, gw)."""
    B, N, C = x.shape
    gh, gw = grid_hw
    if gh * gw != N:
        raise ValueError(f"got {N} tokens for a {gh}x{gw} grid")
    return x.transpose(1, 2).reshape(B, C, gh, gw)  # (B, C, gh, gw)


def from_boxes(boxes: torch.Tensor, grid_hw: tuple[int, int], extra_index: torch.Tensor | None = None) -> Windows:
    """Build ``Windows`` from boxes (B, N, 4) whose sizes agree across rows, plus optional extra indices (B, E)."""
    B, N, _ = boxes.shape
    gh, gw = grid_hw
    if N and not bool((boxes[:, :, 2:] == boxes[:1, :, 2:]).all()):
        raise ValueError("window sizes must agree across the rows of a batch")
    parts = []
    for i in range(N):
        h, w = (int(v) for v in boxes[0, i, 2:].tolist())
        ys = boxes[:, i, 0:1] + torch.arange(h, device=boxes.device)  # (B, h)
        xs = boxes[:, i, 1:2] + torch.arange(w, device=boxes.device)  # (B, w)
        parts.append((ys[:, :, None] * gw + xs[:, None, :]).reshape(B, h * w))  # (B, h*w)
    num_extra = 0
    if extra_index is not None:
        parts.append(extra_index)
        num_extra = extra_index.shape[1]
    index = torch.cat(parts, dim=1) if parts else boxes.new_zeros((B, 0))  # (B, T)
    pos = torch.stack((index // gw, index % gw), dim=-1)  # (B, T, 2)
    return Windows(boxes=boxes, index=index, pos=pos, grid_hw=(gh, gw), num_extra=num_extra)


def crop_window_pixels(x: torch.Tensor, windows: Windows, patch: int) -> list[torch.Tensor]:
    """Pixels under each window: x (B, C, H, W) or (B, H, W) -> per window (B, C, h*p, w*p) or (B, h*p, w*p).

    Used for the loss on window pixels only (labels) and for pictures (images)."""
    squeeze = x.ndim == 3
    if squeeze:
        x = x[:, None]
    B, C, H, W = x.shape
    gh, gw = H // patch, W // patch
    if (gh, gw) != tuple(windows.grid_hw):
        raise ValueError(f"pixels of size {H}x{W} do not match the {windows.grid_hw} token grid with patch {patch}")
    tiles = x.reshape(B, C, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, C, patch, patch)
    out, start = [], 0
    for h, w in windows.sizes:
        idx = windows.index[:, start : start + h * w]  # (B, h*w)
        t = torch.gather(tiles, 1, idx[:, :, None, None, None].expand(-1, -1, C, patch, patch))  # (B, h*w, C, p, p)
        t = t.reshape(B, h, w, C, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(B, C, h * patch, w * patch)
        out.append(t[:, 0] if squeeze else t)
        start += h * w
    return out


def window_pixel_index(windows: Windows, patch: int, width: int) -> torch.Tensor:
    """(B, P) flat pixel indices ``y * width + x`` of every window's pixels, window after window, row-major
    inside each: the order of ``torch.cat([m.flatten(-2) for m in maps])`` over the per-window output maps.
    One ``gather`` with it takes a window batch's supervised pixels from a (B, [C,] H*W) map without copying
    the whole map (what ``crop_window_pixels`` does for pictures)."""
    parts = []
    for i, (h, w) in enumerate(windows.sizes):
        top = windows.boxes[:, i, 0:1] * patch  # (B, 1) first pixel row
        left = windows.boxes[:, i, 1:2] * patch  # (B, 1) first pixel column
        ys = top + torch.arange(h * patch, device=top.device)  # (B, h*p)
        xs = left + torch.arange(w * patch, device=top.device)  # (B, w*p)
        parts.append((ys[:, :, None] * width + xs[:, None, :]).flatten(1))  # (B, h*p*w*p)
    return torch.cat(parts, dim=1)  # (B, P)
