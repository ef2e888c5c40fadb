"""Sampling non-overlapping windows of tokens (paper Sec. 3, "Window distribution").

Windows are placed one after the other (largest first), all rows of the batch at once: an integral image
of the occupied cells gives, for every candidate top-left corner, whether the window would overlap one
already placed, and ``torch.multinomial`` draws among the free corners. No Python loop runs over rows or
candidate positions. Rows that reach a dead end (no free corner left) are re-drawn; equal-size windows
fall back to a randomly shifted lattice packing, which always exists when the request is feasible.

Border balancing: with a uniform top-left corner, a grid corner is covered by a single corner position
while an interior cell is covered by h*w of them, so borders would be seen up to h*w times less often.
With ``balance=True`` (default) free corners are weighted, per axis, by a start distribution that
flattens the 1D coverage (a fixed-point iteration, cached per (grid, size)). Exact uniformity is
impossible in general (a 7-row window in a 12-row grid always covers rows 5 and 6); ``coverage`` measures
what is reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from .core import Windows, from_boxes

Size = tuple[int, int]


def normalize_sizes(num_windows: int, window_hw: Size | Sequence[Size]) -> list[Size]:
    """(h, w) for all windows, or one (h, w) per window -> list of N (h, w)."""
    if num_windows < 1:
        raise ValueError(f"num_windows must be >= 1, got {num_windows}")
    if len(window_hw) == 2 and all(isinstance(v, int) for v in window_hw):
        sizes = [(int(window_hw[0]), int(window_hw[1]))] * num_windows
    else:
        sizes = [(int(h), int(w)) for h, w in window_hw]  # type: ignore[misc]
        if len(sizes) != num_windows:
            raise ValueError(f"got {len(sizes)} window sizes for num_windows={num_windows}")
    for h, w in sizes:
        if h < 1 or w < 1:
            raise ValueError(f"window sizes must be positive, got {h}x{w}")
    return sizes


def max_windows_that_fit(grid_hw: Size, window_hw: Size) -> int:
    """How many h x w windows fit in the grid without overlap (axis-aligned translates: a lattice packing)."""
    return (grid_hw[0] // window_hw[0]) * (grid_hw[1] // window_hw[1])


def check_fit(grid_hw: Size, sizes: Sequence[Size], extra_tokens: int = 0) -> None:
    """Raise ValueError, saying what would fit, when the windows cannot be placed in the grid."""
    gh, gw = grid_hw
    for h, w in sizes:
        if h > gh or w > gw:
            raise ValueError(
                f"a window of {h}x{w} tokens does not fit in a {gh}x{gw} token grid (largest window: {gh}x{gw})"
            )
    if len(set(sizes)) == 1:
        most = max_windows_that_fit(grid_hw, sizes[0])
        if len(sizes) > most:
            h, w = sizes[0]
            raise ValueError(
                f"{len(sizes)} windows of {h}x{w} tokens cannot fit in a {gh}x{gw} grid without overlap; "
                f"at most {most} fit"
            )
    area = sum(h * w for h, w in sizes)
    if area + extra_tokens > gh * gw:
        raise ValueError(
            f"windows of {area} tokens plus {extra_tokens} extra tokens exceed the {gh}x{gw} grid ({gh * gw} tokens)"
        )


@lru_cache(maxsize=256)
def _balanced_starts(grid: int, size: int, iters: int = 300) -> tuple[float, ...]:
    """(grid - size + 1,) start probabilities of a window of ``size`` cells that make the probability of
    covering each of the ``grid`` cells as flat as possible: p <- p * mean over the window of 1/coverage."""
    starts = grid - size + 1
    cover = torch.zeros(grid, starts, dtype=torch.float64)  # (cells, starts): 1 where start s covers cell
    for s in range(starts):
        cover[s : s + size, s] = 1.0
    p = torch.full((starts,), 1.0 / starts, dtype=torch.float64)
    for _ in range(iters):
        p = p * (cover.T @ (1.0 / (cover @ p))) / size
        p = p / p.sum()
    return tuple(p.tolist())


def _start_weights(grid: int, size: int, device: torch.device) -> torch.Tensor:
    return torch.tensor(_balanced_starts(grid, size), dtype=torch.float32, device=device)


def _free_corners(occupied: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """occupied: (B, H, W) bool -> (B, H-h+1, W-w+1) bool, True where an h x w window overlaps nothing."""
    B, H, W = occupied.shape
    integral = torch.zeros(B, H + 1, W + 1, dtype=torch.int32, device=occupied.device)
    integral[:, 1:, 1:] = occupied.to(torch.int32).cumsum(1).cumsum(2)  # (B, H+1, W+1)
    count = integral[:, h:, w:] - integral[:, :-h, w:] - integral[:, h:, :-w] + integral[:, :-h, :-w]
    return count == 0


def _place(
    batch: int,
    grid_hw: Size,
    sizes: list[Size],
    order: list[int],
    balance: bool,
    generator: torch.Generator | None,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Place windows in ``order`` on an empty grid, one after the other. Returns boxes (B, N, 4), ok (B,) bool."""
    B, (H, W) = batch, grid_hw
    occupied = torch.zeros(B, H, W, dtype=torch.bool, device=device)
    boxes = torch.zeros(B, len(sizes), 4, dtype=torch.long, device=device)
    ok = torch.ones(B, dtype=torch.bool, device=device)
    for i in order:
        h, w = sizes[i]
        free = _free_corners(occupied, h, w)  # (B, H-h+1, W-w+1)
        weights = free.to(torch.float32)
        if balance:
            weights = weights * _start_weights(H, h, device)[:, None] * _start_weights(W, w, device)[None, :]
        weights = weights.flatten(1)  # (B, P)
        dead = weights.sum(1) == 0
        ok &= ~dead
        weights[dead] = 1.0  # draw anything for dead rows; they are re-drawn by the caller
        corner = torch.multinomial(weights, 1, generator=generator).squeeze(1)  # (B,)
        top, left = corner // (W - w + 1), corner % (W - w + 1)
        boxes[:, i] = torch.stack((top, left, torch.full_like(top, h), torch.full_like(top, w)), dim=-1)
        occupied = occupied | _boxes_mask(boxes[:, i : i + 1], (H, W))  # (B, H, W)
    return boxes, ok


def _lattice_boxes(
    grid_hw: Size, size: Size, n: int, batch: int, generator: torch.Generator | None, device
) -> torch.Tensor:
    """Fallback for equal windows: n random cells of a randomly shifted lattice packing. (batch, n, 4)."""
    (gh, gw), (h, w) = grid_hw, size
    ny, nx = gh // h, gw // w
    scores = torch.rand(batch, ny * nx, generator=generator, device=device)
    cells = scores.argsort(dim=1)[:, :n]  # (batch, n) distinct lattice cells
    off_y = torch.randint(0, gh - ny * h + 1, (batch, 1), generator=generator, device=device)
    off_x = torch.randint(0, gw - nx * w + 1, (batch, 1), generator=generator, device=device)
    top, left = off_y + (cells // nx) * h, off_x + (cells % nx) * w
    return torch.stack((top, left, torch.full_like(top, h), torch.full_like(top, w)), dim=-1)


def _boxes_mask(boxes: torch.Tensor, grid_hw: Size) -> torch.Tensor:
    """boxes (B, N, 4) -> (B, H, W) bool occupancy."""
    H, W = grid_hw
    ys = torch.arange(H, device=boxes.device)[None, None]
    xs = torch.arange(W, device=boxes.device)[None, None]
    in_y = (ys >= boxes[..., 0:1]) & (ys < boxes[..., 0:1] + boxes[..., 2:3])  # (B, N, H)
    in_x = (xs >= boxes[..., 1:2]) & (xs < boxes[..., 1:2] + boxes[..., 3:4])  # (B, N, W)
    return (in_y[..., :, None] & in_x[..., None, :]).any(1)  # (B, H, W)


def sample_windows(
    grid_hw: Size,
    num_windows: int,
    window_hw: Size | Sequence[Size],
    batch_size: int,
    generator: torch.Generator | None = None,
    *,
    extra_tokens: int = 0,
    balance: bool = True,
    max_tries: int = 16,
    device: torch.device | str | None = None,
) -> Windows:
    """Sample ``num_windows`` non-overlapping windows per row of a batch.

    Args:
        grid_hw: (grid_h, grid_w) token grid.
        num_windows: N windows per image; 1 is crop training.
        window_hw: one (h, w) for all windows, or a list of N (h, w) (windows of different sizes).
        batch_size: B rows, each with its own positions.
        generator: torch.Generator for reproducible draws (same seed, same windows).
        extra_tokens: isolated tokens drawn uniformly outside the windows (paper Appendix C).
        balance: weight corner positions so that border cells are covered as often as interior ones.

    Returns:
        ``Windows`` with boxes (B, N, 4), index (B, T) and pos (B, T, 2).
    """
    gh, gw = int(grid_hw[0]), int(grid_hw[1])
    sizes = normalize_sizes(num_windows, window_hw)
    check_fit((gh, gw), sizes, extra_tokens)
    device = (
        torch.device(device)
        if device is not None
        else (generator.device if generator is not None else torch.device("cpu"))
    )
    if all(s == (1, 1) for s in sizes):
        # Random single tokens (MAE-like): one draw without replacement.
        cells = torch.multinomial(
            torch.ones(batch_size, gh * gw, device=device), num_windows + extra_tokens, generator=generator
        )
        boxes = torch.stack((cells[:, :num_windows] // gw, cells[:, :num_windows] % gw), -1)
        boxes = torch.cat((boxes, torch.ones_like(boxes)), dim=-1)  # (B, N, 4)
        return from_boxes(boxes, (gh, gw), cells[:, num_windows:] if extra_tokens else None)

    order = sorted(range(num_windows), key=lambda i: -sizes[i][0] * sizes[i][1])
    boxes = torch.zeros(batch_size, num_windows, 4, dtype=torch.long, device=device)
    todo = torch.arange(batch_size, device=device)
    for _ in range(max_tries):
        placed, ok = _place(len(todo), (gh, gw), sizes, order, balance, generator, device)
        boxes[todo[ok]] = placed[ok]
        todo = todo[~ok]
        if len(todo) == 0:
            break
    if len(todo):
        if len(set(sizes)) != 1:
            raise ValueError(
                f"could not place windows {sizes} without overlap in a {gh}x{gw} grid after {max_tries} tries; "
                "they are packed too tightly: use fewer or smaller windows"
            )
        boxes[todo] = _lattice_boxes((gh, gw), sizes[0], num_windows, len(todo), generator, device)

    extra = None
    if extra_tokens:
        free = (~_boxes_mask(boxes, (gh, gw))).flatten(1).to(torch.float32)  # (B, H*W)
        extra = torch.multinomial(free, extra_tokens, generator=generator)  # (B, E)
    return from_boxes(boxes, (gh, gw), extra)


def coverage(windows: Windows) -> torch.Tensor:
    """(grid_h, grid_w) fraction of rows whose windows (not extras) cover each cell."""
    return _boxes_mask(windows.boxes, windows.grid_hw).to(torch.float32).mean(0)
