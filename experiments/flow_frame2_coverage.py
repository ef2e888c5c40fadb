"""Issue 11 diagnostic for Table 3: which share of frame 1's window pixels have their match inside frame 2's
windows, for each frame-2 strategy of the small-scale Table 3 (``winwin/reproduce/tables_flow.py``)?

The paper's premise for flow-guided frame-2 windows is that they hold more of the matches than the same
windows do. This measures that share (no model, no training) on the embedded synthetic flow pairs with the
table's geometry: 192x384 px, patch 16 (12x24 tokens), frame 1 keeps 2 random 4x4 windows, frame 2 keeps
4 guided 3x3 windows or 2 guided 4x4 windows (stochasticity 0 / 0.3 / 0.5), the same 2 windows, 4 random
3x3 windows, or, for the one-window row, one 6x6 window in both frames. Share = valid frame-1 window pixels
whose end point (x + u, y + v) falls on a frame-2 window token / valid frame-1 window pixels whose end point is
in the image.

    .venv/bin/python experiments/flow_frame2_coverage.py [pairs, default 256]
"""

from __future__ import annotations

import sys

import torch

from winwin.data.synthetic_flow import SyntheticFlow
from winwin.windows import Windows, sample_flow_guided_windows, sample_windows
from winwin.windows.flow_guided import bin_flow_end_points, same_windows

GRID, PATCH, BATCH = (12, 24), 16, 16


def share_inside(counts: torch.Tensor, second: Windows) -> torch.Tensor:
    """(B,) share of the end points ``counts`` (B, gh, gw) (``bin_flow_end_points`` of frame 1's windows)
    that land on ``second``'s window tokens."""
    counts = counts.flatten(1)  # (B, gh*gw) end points per token
    inside = torch.zeros_like(counts)  # (B, gh*gw) 1 on frame-2 window tokens
    inside.scatter_(1, second.index[:, : second.num_window_tokens], 1.0)
    return (counts * inside).sum(1) / counts.sum(1).clamp(min=1)


def main(pairs: int = 256) -> None:
    data = SyntheticFlow("train", length=2000, image_hw=(GRID[0] * PATCH, GRID[1] * PATCH), seed=0)
    gen = torch.Generator().manual_seed(0)
    shares: dict[str, list[torch.Tensor]] = {}
    magnitudes = []
    for start in range(0, pairs, BATCH):
        items = [data[i] for i in range(start, min(start + BATCH, pairs))]
        flow = torch.stack([it["flow"] for it in items]).float()  # (B, 2, H, W)
        valid = torch.stack([it["valid"] for it in items])  # (B, H, W)
        B = flow.shape[0]
        magnitudes.append(flow.norm(dim=1)[valid][::97])  # a subsample: quantile() refuses huge tensors
        first = sample_windows(GRID, 2, (4, 4), B, gen)
        counts = bin_flow_end_points(first, flow, valid, PATCH)  # (B, gh, gw), binned once
        second = {
            "same 2 windows 4x4": same_windows(first),
            "random 4 windows 3x3": sample_windows(GRID, 4, (3, 3), B, gen),
        }
        for s in (0.0, 0.3, 0.5):
            second[f"guided 4x 3x3, stoch. {s:g}"] = sample_flow_guided_windows(
                first, flow, valid, PATCH, [(3, 3)] * 4, s, gen
            )
            second[f"guided 2x 4x4, stoch. {s:g}"] = sample_flow_guided_windows(
                first, flow, valid, PATCH, [(4, 4)] * 2, s, gen
            )
        for name, win in second.items():
            shares.setdefault(name, []).append(share_inside(counts, win))
        one = sample_windows(GRID, 1, (6, 6), B, gen)
        one_counts = bin_flow_end_points(one, flow, valid, PATCH)
        shares.setdefault("1 window 6x6, same", []).append(share_inside(one_counts, same_windows(one)))
    m = torch.cat(magnitudes)
    print(
        f"{pairs} pairs; flow magnitude (px): mean {m.mean():.1f}, median {m.median():.1f}, "
        f"90th pct {m.quantile(0.9):.1f}, 99th pct {m.quantile(0.99):.1f}; a token is {PATCH} px"
    )
    for name, v in shares.items():
        v = torch.cat(v)
        print(f"{name:28s} share of matches inside frame 2's windows: {v.mean():.3f} (std over pairs {v.std():.3f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
