"""Appendix D / Figure 7: how the token count changes the self-probability of RoPE attention.

Every token gets the same query and key vector c before RoPE (a constant query-key product). After 2D RoPE
the logit ``temperature * (R_i c).(R_j c) / sqrt(D)`` depends only on the relative position of tokens i and j.
The full image shows many more tokens than the training windows: the softmax denominator grows and the
probability of a token attending to itself (its self-probability) drops. A temperature multiplier > 1
(``logits = temperature * q.k / sqrt(D)``, as in ``winwin.layers.Attention``) restores it;
``matching_temperature`` finds the one that restores it exactly.
"""

from __future__ import annotations

import argparse
import json
import math
import operator
from pathlib import Path

import numpy as np
import torch

from ..layers import RoPE2D
from ..windows import sample_windows

Size = tuple[int, int]


def _check_temperature(temperature: float) -> float:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and > 0, got {temperature}")
    return float(temperature)


def _grid_pos(grid_hw: Size) -> torch.Tensor:
    """(H*W, 2) long (y, x) positions of a grid, row-major."""
    H, W = int(grid_hw[0]), int(grid_hw[1])
    if H < 1 or W < 1:
        raise ValueError(f"grid must be at least 1x1 tokens, got {H}x{W}")
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")  # (H, W) each
    return torch.stack((ys.flatten(), xs.flatten()), dim=-1)  # (H*W, 2)


def constant_qk(head_dim: int, logit: float) -> torch.Tensor:
    """The constant query = key vector c (D,) float64, all entries equal, with c.c / sqrt(D) == logit."""
    if head_dim < 4 or head_dim % 4:
        raise ValueError(
            f"head_dim must be a positive multiple of 4, got {head_dim} (2D RoPE: y and x halves of rotated pairs)"
        )
    if not (math.isfinite(logit) and logit >= 0):
        raise ValueError(f"logit = c.c / sqrt(D) must be finite and >= 0 (the query equals the key), got {logit}")
    return torch.full((head_dim,), math.sqrt(logit / math.sqrt(head_dim)), dtype=torch.float64)  # (D,)


def _logits(pos: torch.Tensor, query: int, head_dim: int, logit: float, rope_base: float) -> torch.Tensor:
    """(N,) float64 logits q_query . k_j / sqrt(D) before temperature, q = k = c rotated at each position."""
    pos = torch.as_tensor(pos)
    if pos.ndim != 2 or pos.shape[1] != 2 or pos.shape[0] < 1:
        raise ValueError(f"pos must be (N, 2) (y, x) token positions with N >= 1, got shape {tuple(pos.shape)}")
    if pos.is_floating_point() or pos.is_complex() or pos.dtype == torch.bool:
        raise ValueError(f"pos must hold integer (y, x) token positions, got dtype {pos.dtype}")
    query = operator.index(query)
    if not 0 <= query < pos.shape[0]:
        raise ValueError(f"query index {query} out of range for {pos.shape[0]} tokens")
    x = constant_qk(head_dim, logit).expand(1, 1, pos.shape[0], head_dim)  # (1, 1, N, D)
    # float64 vectors; RoPE2D computes its angles in float32 (like CroCo) and casts cos/sin to float64.
    rot = RoPE2D(rope_base)(x, pos.long()[None])[0, 0]  # (N, D)
    return rot @ rot[query] / math.sqrt(head_dim)  # (N,)


def _self_prob(logits: torch.Tensor, query: int, temperature: float) -> float:
    return float(torch.softmax(temperature * logits, dim=0)[query])


def attention_row(
    pos: torch.Tensor, query: int, head_dim: int, logit: float, temperature: float = 1.0, rope_base: float = 100.0
) -> torch.Tensor:
    """(N,) float64 softmax over the N tokens at ``pos`` (N, 2) of temperature * q_query . k_j / sqrt(D)."""
    temperature = _check_temperature(temperature)
    return torch.softmax(temperature * _logits(pos, query, head_dim, logit, rope_base), dim=0)  # (N,)


def self_probability(
    pos: torch.Tensor, query: int, head_dim: int, logit: float, temperature: float = 1.0, rope_base: float = 100.0
) -> float:
    """attention_row(...)[query]: the weight of the query token on itself."""
    return float(attention_row(pos, query, head_dim, logit, temperature, rope_base)[query])


def matching_temperature(
    train_pos: torch.Tensor,
    train_query: int,
    full_pos: torch.Tensor,
    full_query: int,
    head_dim: int,
    logit: float,
    rope_base: float = 100.0,
    train_temperature: float = 1.0,
) -> float:
    """The temperature at which the full layout's self-probability equals the training layout's at
    ``train_temperature``. Raises ValueError when no temperature reaches it."""
    train_temperature = _check_temperature(train_temperature)
    target = _self_prob(_logits(train_pos, train_query, head_dim, logit, rope_base), train_query, train_temperature)
    full = _logits(full_pos, full_query, head_dim, logit, rope_base)  # (N,)

    # RoPE rotations preserve the norm, so by Cauchy-Schwarz l_j = (R_q c).(R_j c)/sqrt(D) <= |c|^2/sqrt(D) = l_q:
    # p(tau) = 1 / sum_j exp(tau (l_j - l_q)) is monotone increasing in tau, from 1/N (tau -> 0) up to
    # 1/m (tau -> inf, m = tokens tied with the self logit). Bisection on log(tau) therefore finds the root.
    def gap(log_tau: float) -> float:
        return _self_prob(full, full_query, math.exp(log_tau)) - target

    x0 = math.log(train_temperature)
    g0 = gap(x0)
    if g0 == 0.0:
        return train_temperature
    n = full.shape[0]
    tied = int((full >= full[full_query] - 1e-12 * max(1.0, abs(float(full[full_query])))).sum())
    if not 1.0 / n < target < 1.0 / tied:
        raise ValueError(
            f"unattainable: the training self-probability {target:.6g} is outside the range (1/{n}, 1/{tied}) = "
            f"({1.0 / n:.6g}, {1.0 / tied:.6g}) that the full layout reaches over temperatures in (0, inf)"
        )
    direction = 1.0 if g0 < 0 else -1.0  # too low: raise tau; too high: lower it
    prev, step = x0, math.log(2.0)
    while True:  # expand the bracket geometrically in log-space
        x = x0 + direction * step
        if abs(x) > 700.0:
            raise ValueError(
                f"no temperature in [1e-304, 1e304] gives the full layout a self-probability of {target:.6g}"
            )
        if (gap(x) >= 0.0) == (direction > 0):
            break
        prev, step = x, 2.0 * step
    lo, hi = (prev, x) if direction > 0 else (x, prev)  # gap(lo) < 0 <= gap(hi)
    for _ in range(100):  # bisection on log(tau): the width drops below float resolution well before 100 halvings
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gap(mid) < 0.0 else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def token_count_curve(
    grid_hw: Size, query_yx: Size, temperatures: list[float], head_dim: int, logit: float, rope_base: float = 100.0
) -> tuple[list[int], dict[float, list[float]]]:
    """Self-probability of the token at ``query_yx`` when only a centred rectangle around it is visible,
    for growing rectangles with the grid's aspect ratio (clipped to the grid), from 1 token to the full grid.
    Step k of L = max(H, W) keeps rows |y - qy| <= k*H // L and columns |x - qx| <= k*W // L.
    Returns the distinct token counts and, per temperature, one self-probability per count."""
    pos, (H, W) = _grid_pos(grid_hw), (int(grid_hw[0]), int(grid_hw[1]))  # (H*W, 2)
    qy, qx = int(query_yx[0]), int(query_yx[1])
    if not (0 <= qy < H and 0 <= qx < W):
        raise ValueError(f"query {(qy, qx)} is outside the {H}x{W} grid")
    taus = [_check_temperature(float(t)) for t in temperatures]
    query, L = qy * W + qx, max(H, W)
    logits = _logits(pos, query, head_dim, logit, rope_base)  # (H*W,)
    counts: list[int] = []
    probs: dict[float, list[float]] = {t: [] for t in taus}
    for k in range(L + 1):
        keep = ((pos[:, 0] - qy).abs() <= k * H // L) & ((pos[:, 1] - qx).abs() <= k * W // L)  # (H*W,)
        n = int(keep.sum())
        if counts and n == counts[-1]:
            continue  # clipped by the grid: same rectangle as the previous step
        counts.append(n)
        sub, q_sub = logits[keep], int(keep[:query].sum())  # (n,), query index inside the rectangle
        for t in taus:
            probs[t].append(_self_prob(sub, q_sub, t))
        if n == H * W:
            break
    return counts, probs


def diagnose(
    grid_hw: Size = (12, 24),
    num_windows: int = 2,
    window_hw: Size = (5, 5),
    head_dim: int = 32,
    logit: float = 4.0,
    rope_base: float = 100.0,
    seed: int = 0,
) -> dict:
    """One sampled training layout vs the full grid: self-probabilities, matching temperature, curve, maps."""
    H, W = int(grid_hw[0]), int(grid_hw[1])
    windows = sample_windows((H, W), num_windows, window_hw, 1, torch.Generator().manual_seed(seed))
    train_pos = windows.pos[0]  # (T, 2)
    top, left, h, w = windows.boxes[0, 0].tolist()
    qy, qx = top + h // 2, left + w // 2  # centre token of the first window
    train_q = int(((train_pos[:, 0] == qy) & (train_pos[:, 1] == qx)).nonzero()[0, 0])
    full_pos, full_q, args = _grid_pos((H, W)), qy * W + qx, (head_dim, logit)  # (H*W, 2)
    tau = matching_temperature(train_pos, train_q, full_pos, full_q, *args, rope_base)
    row_train = attention_row(train_pos, train_q, *args, 1.0, rope_base)  # (T,)
    row_full = attention_row(full_pos, full_q, *args, 1.0, rope_base)  # (H*W,)
    row_matched = attention_row(full_pos, full_q, *args, tau, rope_base)  # (H*W,)
    map_train = np.full((H, W), np.nan)  # (H, W), NaN outside the windows
    map_train[train_pos[:, 0].numpy(), train_pos[:, 1].numpy()] = row_train.numpy()
    counts, probs = token_count_curve((H, W), (qy, qx), [1.0, tau], *args, rope_base)
    return dict(
        grid_hw=[H, W],
        num_windows=num_windows,
        window_hw=[int(v) for v in window_hw],
        head_dim=head_dim,
        logit=float(logit),
        rope_base=float(rope_base),
        seed=seed,
        train_tokens=int(train_pos.shape[0]),
        full_tokens=H * W,
        query_yx=[qy, qx],
        p_self_train=float(row_train[train_q]),
        p_self_full=float(row_full[full_q]),
        tau_match=tau,
        p_self_full_matched=float(row_matched[full_q]),
        curve_counts=counts,
        curve_probs={1.0: probs[1.0], tau: probs[tau]},
        boxes=windows.boxes[0].tolist(),
        map_train=map_train,
        map_full=row_full.reshape(H, W).numpy(),
        map_full_matched=row_matched.reshape(H, W).numpy(),
    )


def plot_self_attention(result: dict, path: str | Path) -> Path:
    """Write ``path`` (PNG: curve + the three attention maps, like Fig. 7) and ``<stem>.json`` (the numbers).
    Returns the JSON path."""
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import StrMethodFormatter

    from ..files import atomic_write_text, save_figure

    path = Path(path)
    if path.suffix.lower() == ".json":
        raise ValueError(f"the figure path {path} ends in .json; the numbers go to <stem>.json next to the PNG")
    tau, p_train = result["tau_match"], result["p_self_train"]
    fig = Figure(figsize=(13, 6.4), dpi=100, layout="constrained")
    axes = fig.subplots(2, 2).flatten()
    ax = axes[0]
    for t, label in ((1.0, "tau = 1"), (tau, f"tau = {tau:.3g} (matched)")):
        ax.plot(result["curve_counts"], result["curve_probs"][t], marker=".", label=label)
    ax.axhline(p_train, color="gray", ls="--", label=f"training self-prob. {p_train:.3g}")
    ax.axvline(result["train_tokens"], color="C2", ls=":", label=f"training tokens ({result['train_tokens']})")
    ax.axvline(result["full_tokens"], color="C3", ls=":", label=f"full grid ({result['full_tokens']})")
    ax.set(xscale="log", xlabel="visible tokens (centred rectangle around the query)", ylabel="self-probability")
    ax.minorticks_off()
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))  # plain labels: no mathtext (slow to start)
    ax.set_title("self-probability vs number of visible tokens", fontsize=10)
    ax.legend(fontsize=8)
    maps = [result["map_train"], result["map_full"], result["map_full_matched"]]
    finite = np.concatenate([m[np.isfinite(m)] for m in maps])
    vmax, vmin = float(finite.max()), float(finite[finite > 0].min())
    norm = LogNorm(vmin=min(max(vmin, vmax * 1e-6), vmax / 10), vmax=vmax)  # at most 6 decades
    cmap = colormaps["viridis"].with_extremes(bad="#d8d8d8")
    titles = [
        f"training windows ({result['train_tokens']} tokens), tau = 1: p_self = {p_train:.4f}",
        f"full grid ({result['full_tokens']} tokens), tau = 1: p_self = {result['p_self_full']:.4f}",
        f"full grid, tau = {tau:.4f}: p_self = {result['p_self_full_matched']:.4f}",
    ]
    qy, qx = result["query_yx"]
    for ax, m, title in zip(axes[1:], maps, titles):
        image = ax.imshow(np.maximum(m, norm.vmin), cmap=cmap, norm=norm, interpolation="nearest")
        ax.add_patch(Rectangle((qx - 0.5, qy - 0.5), 1, 1, fill=False, lw=2, ec="red"))
        ax.set_title(title, fontsize=10)
        ax.axis("off")  # no ticks (cheaper to draw)
    for top, left, h, w in result["boxes"]:
        axes[1].add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, lw=1.5, ec="white"))
    bar = fig.colorbar(image, ax=list(axes[1:]), shrink=0.9, label="attention probability (log scale)")
    bar.minorticks_off()
    bar.ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    save_figure(fig, path, tight=False)  # the figure uses the constrained layout
    numbers = {k: v for k, v in result.items() if not k.startswith("map_")}
    numbers["curve_probs"] = {"tau_1": result["curve_probs"][1.0], "tau_match": result["curve_probs"][tau]}
    json_path = path.with_suffix(".json")
    atomic_write_text(json_path, json.dumps(numbers, indent=2) + "\n")
    return json_path


def parse_hw(text: str) -> Size:
    """ "12x24" -> (12, 24); ValueError naming the bad text otherwise."""
    parts = str(text).strip().lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"expected a size HxW of two positive integers, e.g. 12x24; got {text!r}")
    return int(parts[0]), int(parts[1])


def add_self_attention_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", default="12x24", help="token grid HxW (demo: 192x384 px images, 16 px patches)")
    parser.add_argument("--windows", type=int, default=2, help="training windows")
    parser.add_argument("--window-size", default="5x5", help="window size HxW in tokens")
    parser.add_argument("--head-dim", type=int, default=32, help="head dimension (demo model: 128 dims / 4 heads)")
    parser.add_argument("--logit", type=float, default=4.0, help="self logit c.c / sqrt(D) before temperature")
    parser.add_argument("--rope-base", type=float, default=100.0, help="RoPE base frequency")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled training windows")
    parser.add_argument("-o", "--output", default="self_attention.png", help="figure (.png); numbers go to <stem>.json")


def run_self_attention(args: argparse.Namespace) -> None:
    grid, window = parse_hw(args.grid), parse_hw(args.window_size)
    r = diagnose(grid, args.windows, window, args.head_dim, args.logit, args.rope_base, args.seed)
    json_path = plot_self_attention(r, args.output)
    plural = "s" if args.windows != 1 else ""
    print(
        f"self-attention diagnostic: {r['train_tokens']} training tokens ({args.windows} window{plural} of "
        f"{window[0]}x{window[1]}) vs {r['full_tokens']} full-grid tokens ({grid[0]}x{grid[1]}), "
        f"query at {tuple(r['query_yx'])}"
    )
    print(
        f"self-probability {r['p_self_train']:.4f} (training, tau 1) -> {r['p_self_full']:.4f} (full, tau 1); "
        f"matching temperature {r['tau_match']:.4f} -> {r['p_self_full_matched']:.4f}"
    )
    print(f"wrote {args.output} and {json_path}")
