"""Second-frame windows for binocular tasks (paper Sec. 3 "Generalization to binocular tasks", Appendix B).

Frame 1 keeps random windows (``sample_windows``). Frame 2 keeps windows where the tokens of frame 1's
windows go, according to a perturbed ground-truth flow, so that matching pixels are visible in both frames
without handing the network the answer:

1. Binning (``bin_flow_end_points``): every frame-1 pixel (x, y) under one of ``first``'s windows whose flow
   is valid and finite sends its end point (x + u, y + v) to the frame-2 token (floor((y + v) / p),
   floor((x + u) / p)); end points outside the image are dropped. Only the pixels of the windows are
   gathered (T * p * p per row, not H * W) and one ``scatter_add`` counts them: a (B, gh, gw) map.
2. Noise: each row's map gets Gaussian noise of mean = the map's mean and std = ``stochasticity`` x the
   map's (population) std, as in Appendix B. The mean is a constant per row, so it does not change which
   window wins; the std makes the choice random. ``stochasticity=0`` adds nothing and draws nothing.
3. Greedy: windows are chosen largest area first (ties: the given order), all rows at once. An integral
   image of the noisy map gives the sum under every candidate top-left corner; corners whose window would
   overlap one already chosen are excluded (integral image of the occupied cells, ``sampler._free_corners``)
   and the best corner of each row wins. Exact ties go to the first corner in row-major order (top-most,
   then left-most), so that ``stochasticity=0`` is deterministic. The output keeps the given window order.

Limits and fallbacks (documented because they change what a row sees):
- A row whose map is all zero (no valid flow, or every end point outside the image) carries no guidance;
  its windows are drawn by the random sampler at uniform free positions (``balance=False``) from
  ``generator``, whatever the stochasticity.
- Greedy dead end: the greedy choices can leave no room for a later window although a packing exists
  (e.g. two 2x2 windows in a 2x4 grid when the first is centred). The windows after the dead one cannot be
  moved into room that does not exist, so the whole row is re-drawn by the random sampler (retries, then
  a lattice packing for equal sizes); that row loses its flow guidance. This is rare when the windows fill
  a small part of the grid (the paper's 4 windows of 7x7 tokens); a request that the random sampler cannot
  place either raises ValueError, as ``sample_windows`` does.
- ``num_extra`` tokens of ``first`` (Appendix C) are ignored; the output has no extra tokens.

Table 3's other frame-2 strategies: ``same_windows`` (frame 2 keeps frame 1's windows) and independent
random windows, which are ``sample_windows(first.grid_hw, n, sizes, first.batch_size, generator)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .core import Windows, from_boxes
from .sampler import Size, _boxes_mask, _free_corners, check_fit, normalize_sizes, sample_windows


def same_windows(first: Windows) -> Windows:
    """Frame 2 keeps frame 1's windows (Table 3, "same win."); extra tokens are not copied."""
    return from_boxes(first.boxes, first.grid_hw)


def _check_inputs(first: Windows, flow: torch.Tensor, valid: torch.Tensor, patch_size: int) -> None:
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W) with (u, v) channels, got shape {tuple(flow.shape)}")
    if not flow.is_floating_point():
        raise ValueError(f"flow must be a floating-point tensor, got {flow.dtype}")
    B, _, H, W = flow.shape
    if valid.shape != (B, H, W):
        raise ValueError(f"valid must be (B, H, W) = {(B, H, W)} like the flow, got {tuple(valid.shape)}")
    if first.batch_size != B:
        raise ValueError(f"flow has {B} rows but the first frame's windows have {first.batch_size}")
    gh, gw = first.grid_hw
    p = patch_size
    if H % p or W % p:
        raise ValueError(
            f"flow of {H}x{W} pixels is not a whole number of {p}x{p} patches: expected {gh * p}x{gw * p} pixels "
            f"for the first frame's {gh}x{gw} token grid"
        )
    if (H // p, W // p) != (gh, gw):
        raise ValueError(
            f"flow of {H}x{W} pixels with patch {p} makes a {H // p}x{W // p} token grid, but the first frame's "
            f"windows use a {gh}x{gw} grid: expected {gh * p}x{gw * p} pixels"
        )


def bin_flow_end_points(first: Windows, flow: torch.Tensor, valid: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Count, per frame-2 token, the end points of the valid flow of the pixels under ``first``'s windows.

    Args:
        first: frame-1 windows on a (gh, gw) token grid; extra tokens are ignored.
        flow: (B, 2, H, W) float, (u along x / width, v along y / height) in pixels, H x W = grid x patch.
        valid: (B, H, W) bool (or 0 / 1); False (or a non-finite flow) drops the pixel.
        patch_size: p, pixels per token side.

    Returns:
        (B, gh, gw) float32 counts (step 1 of the module docstring).
    """
    _check_inputs(first, flow, valid, patch_size)
    if valid.dtype != torch.bool:
        valid = valid != 0
    B, _, H, W = flow.shape
    (gh, gw), p, dev = first.grid_hw, patch_size, flow.device
    tok = first.index[:, : first.num_window_tokens].to(dev)  # (B, T) window tokens of frame 1
    T, ty, tx = tok.shape[1], tok // gw, tok % gw  # (B, T) token coordinates
    # The pixels of those tokens, as runs of p contiguous pixels along x: run (row b, pixel row y, token x).
    d = torch.arange(p, device=dev)
    y = ty[:, :, None] * p + d  # (B, T, p) pixel rows
    b = torch.arange(B, device=dev)[:, None, None]  # (B, 1, 1)
    run_uv = (b * 2 * H + y) * gw + tx[:, :, None]  # (B, T, p) runs of u; v is H * gw runs further
    run_uv = torch.stack((run_uv, run_uv + H * gw), dim=1)  # (B, 2, T, p)
    uv = flow.reshape(-1, p).index_select(0, run_uv.view(-1)).view(B, 2, T, p, p)  # (B, 2, T, p, p)
    ok = valid.reshape(-1, p).index_select(0, ((b * H + y) * gw + tx[:, :, None]).view(-1))  # (B*T*p, p)
    dtype = torch.promote_types(flow.dtype, torch.float32)
    ex = (tx * p).to(dtype)[:, :, None, None] + d.to(dtype) + uv[:, 0]  # (B, T, p, p) end points, pixels
    ey = y.to(dtype)[..., None] + uv[:, 1]  # (B, T, p, p)
    # End point -> token, in floats: floor(floor(e) / p) == floor(e / p) exactly (floor(e / p) could round
    # up at a cell edge). Off-image end points go to a one-token border (-1 or the grid size) that is cut off
    # below; NaN and -inf go there too, so non-finite flow is dropped with no boolean mask (slow on CPU).
    ex = (ex.floor_() / p).floor_().nan_to_num_(-1.0, float(gw), -1.0).clamp_(-1, gw)
    ey = (ey.floor_() / p).floor_().nan_to_num_(-1.0, float(gh), -1.0).clamp_(-1, gh)
    cell = ((ey + 1) * (gw + 2) + ex + 1).long().view(B, -1)  # (B, T*p*p) in the (gh+2, gw+2) padded grid
    counts = torch.zeros(B, (gh + 2) * (gw + 2), dtype=torch.float32, device=dev)
    counts.scatter_add_(1, cell, ok.view(B, -1).to(torch.float32))  # invalid pixels add 0
    counts = counts.view(B, gh + 2, gw + 2)[:, 1:-1, 1:-1].contiguous()  # (B, gh, gw) end points in the image
    return counts


def _greedy_boxes(score: torch.Tensor, sizes: list[Size]) -> tuple[torch.Tensor, torch.Tensor]:
    """score (B, gh, gw) -> boxes (B, N, 4) chosen largest first, dead (B,) bool: a window found no room."""
    B, H, W = score.shape
    integral = torch.zeros(B, H + 1, W + 1, dtype=torch.float64, device=score.device)
    integral[:, 1:, 1:] = score.to(torch.float64).cumsum(1).cumsum(2)  # (B, H+1, W+1); exact for counts
    occupied = torch.zeros(B, H, W, dtype=torch.bool, device=score.device)
    boxes = torch.zeros(B, len(sizes), 4, dtype=torch.long, device=score.device)
    dead = torch.zeros(B, dtype=torch.bool, device=score.device)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i][0] * sizes[i][1]):  # stable: ties keep order
        h, w = sizes[i]
        sums = integral[:, h:, w:] - integral[:, :-h, w:] - integral[:, h:, :-w] + integral[:, :-h, :-w]
        free = _free_corners(occupied, h, w)  # (B, H-h+1, W-w+1)
        dead |= ~free.flatten(1).any(1)
        # argmax returns the first maximum: exact ties go to the top-most, then left-most corner.
        corner = sums.masked_fill(~free, float("-inf")).flatten(1).argmax(1)  # (B,)
        top, left = corner // (W - w + 1), corner % (W - w + 1)
        boxes[:, i] = torch.stack((top, left, torch.full_like(top, h), torch.full_like(top, w)), dim=-1)
        occupied = occupied | _boxes_mask(boxes[:, i : i + 1], (H, W))  # (B, H, W)
    return boxes, dead


def sample_flow_guided_windows(
    first: Windows,
    flow: torch.Tensor,
    valid: torch.Tensor,
    patch_size: int,
    sizes: Sequence[Size],
    stochasticity: float = 0.3,
    generator: torch.Generator | None = None,
) -> Windows:
    """Frame-2 windows guided by the perturbed flow of frame 1's windows (Appendix B; see module docstring).

    Args:
        first: frame-1 windows, (B, N1, 4) boxes on a (gh, gw) token grid; frame 2 has the same grid.
        flow: (B, 2, H, W) ground-truth forward flow in pixels, (u, v) = (along x, along y); H = gh * p.
        valid: (B, H, W) bool, where the flow is known.
        patch_size: p, pixels per token side.
        sizes: (h, w) in tokens of each frame-2 window; the output keeps this order.
        stochasticity: noise std as a fraction of the std of each row's binned map (the paper's best: 0.3).
        generator: torch.Generator for the noise and the random fallbacks.

    Returns:
        ``Windows`` with boxes (B, N2, 4), index (B, T2) and pos (B, T2, 2), no extra tokens.
    """
    try:
        sizes = normalize_sizes(len(sizes), [(int(h), int(w)) for h, w in sizes])
    except (TypeError, ValueError) as err:
        raise ValueError(f"sizes must be a non-empty list of positive (h, w) pairs, got {sizes!r}: {err}") from err
    if not stochasticity >= 0:  # also rejects NaN
        raise ValueError(f"stochasticity must be >= 0 (a fraction of the binned map's std), got {stochasticity}")
    grid = first.grid_hw
    check_fit(grid, sizes)
    counts = bin_flow_end_points(first, flow, valid, patch_size)  # (B, gh, gw)
    device = counts.device
    score = counts
    if stochasticity > 0:
        flat = counts.flatten(1)  # (B, gh*gw)
        mean, std = flat.mean(1), flat.std(1, correction=0)  # (B,)
        noise = torch.randn(counts.shape, generator=generator, device=device)  # (B, gh, gw)
        score = counts + mean[:, None, None] + stochasticity * std[:, None, None] * noise
    boxes, dead = _greedy_boxes(score, sizes)
    redraw = dead | (counts.flatten(1).sum(1) == 0)  # (B,) dead ends and rows without guidance
    if bool(redraw.any()):
        n = int(redraw.sum())
        boxes[redraw] = sample_windows(grid, len(sizes), sizes, n, generator, balance=False, device=device).boxes
    return from_boxes(boxes, grid)
