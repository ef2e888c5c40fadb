"""``winwin bench windows``: how long sampling a batch of windows takes and how evenly the sampler covers
the grid (max / min of the per-cell coverage frequency), border-balanced vs uniform corners."""

from __future__ import annotations

import argparse
import time

import torch

from ..windows import coverage, sample_windows


def add_windows_bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--grid", type=int, nargs=2, default=[45, 80], metavar=("GH", "GW"), help="token grid (BDD100k: 45 80)"
    )
    p.add_argument("--num-windows", type=int, default=2)
    p.add_argument("--window-size", type=int, default=22)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--samples", type=int, default=20000, help="rows drawn to estimate coverage")


def run_windows_bench(args: argparse.Namespace) -> list[dict]:
    grid, hw = tuple(args.grid), (args.window_size, args.window_size)
    rows = []
    for balance in (True, False):
        gen = torch.Generator().manual_seed(0)
        sample_windows(grid, args.num_windows, hw, args.batch_size, gen, balance=balance)  # warm caches
        times = []
        for _ in range(20):
            tic = time.perf_counter()
            sample_windows(grid, args.num_windows, hw, args.batch_size, gen, balance=balance)
            times.append(time.perf_counter() - tic)
        cov = coverage(sample_windows(grid, args.num_windows, hw, args.samples, gen, balance=balance))
        rows.append(
            dict(
                balance=balance,
                ms_per_batch=1000 * sorted(times)[len(times) // 2],
                cov_min=float(cov.min()),
                cov_max=float(cov.max()),
                ratio=float(cov.max() / cov.min().clamp(min=1e-12)),
            )
        )
    print(
        f"winwin bench windows: {args.num_windows} windows of {hw[0]}x{hw[1]} in a {grid[0]}x{grid[1]} grid, "
        f"batch {args.batch_size}; coverage over {args.samples} draws"
    )
    print("| corners | ms / batch (median of 20) | min coverage | max coverage | max / min |")
    print("|---|---|---|---|---|")
    for r in rows:
        name = "border-balanced" if r["balance"] else "uniform"
        print(f"| {name} | {r['ms_per_batch']:.2f} | {r['cov_min']:.4f} | {r['cov_max']:.4f} | {r['ratio']:.1f} |")
    return rows
