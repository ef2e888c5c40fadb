"""Does a depth model keep its scale on the full image? For each run: the median of prediction / ground truth
and abs_rel / d1 on validation images, (a) at full resolution in one forward pass, (b) in the training mode
(the same number and size of windows as in training, metrics on the window pixels), (c) at full resolution
with per-image median scaling. A ratio far from 1 in (a) but not in (b) means the model changes scale
between window batches and the full image.

    .venv/bin/python experiments/depth_scale_check.py runs/depth_demo_s0 [RUN ...] [--images 30]
"""

from __future__ import annotations

import argparse

import torch

from winwin.engine.checkpoint import load_checkpoint, load_task
from winwin.engine.config import load_config
from winwin.engine.train import build_split
from winwin.inference import full_resolution
from winwin.metrics import DepthMetric
from winwin.windows import crop_window_pixels


def check(run: str, images: int) -> dict:
    model, info = load_checkpoint(f"{run}/checkpoints/last")
    task, cfg = load_task(info), load_config(f"{run}/config.yaml")
    val = build_split(task, cfg, cfg.data.val_split, train=False)
    n = min(images, len(val))
    x = torch.stack([val[i]["image"] for i in range(n)])  # (n, 3, H, W)
    depth = torch.stack([val[i]["depth"] for i in range(n)])  # (n, H, W)
    valid = task.valid({"depth": depth})
    lo, hi = task.depth_range
    row = {"run": run}
    pred = task.predict(full_resolution(model, [x]))  # (n, H, W)
    for name, scaling in (("full", False), ("full_median_scaled", True)):
        metric = DepthMetric(lo, hi, median_scaling=scaling)
        metric.update(pred, depth, valid)
        r = metric.compute()
        row[name] = {"abs_rel": r["abs_rel"], "d1": r["d1"]}
    row["full"]["median_ratio"] = float(torch.median(pred[valid] / depth[valid]))
    grid = model.grid_size(tuple(x.shape[-2:]))
    windows = cfg.windows.sample(grid, n, torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        outs = model(x, windows)  # per window (n, 1, h*p, w*p)
    p = torch.cat([task.predict(o).flatten(1) for o in outs], 1)  # (n, P)
    t = torch.cat([c.flatten(1) for c in crop_window_pixels(depth, windows, model.patch_size)], 1)
    v = torch.cat([c.flatten(1) for c in crop_window_pixels(valid, windows, model.patch_size)], 1)
    metric = DepthMetric(lo, hi)
    metric.update(p[:, None], t[:, None], v[:, None])  # (n, 1, P) as one-row images
    r = metric.compute()
    row["windows"] = {"abs_rel": r["abs_rel"], "d1": r["d1"], "median_ratio": float(torch.median(p[v] / t[v]))}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--images", type=int, default=30)
    args = parser.parse_args()
    print(
        "| run | full: abs_rel / d1 / median pred/gt | windows: abs_rel / d1 / median pred/gt | full, median-scaled |"
    )
    print("|---|---|---|---|")
    for run in args.runs:
        r = check(run, args.images)
        f, w, m = r["full"], r["windows"], r["full_median_scaled"]
        print(
            f"| {run} | {f['abs_rel']:.3f} / {f['d1']:.3f} / {f['median_ratio']:.2f} | "
            f"{w['abs_rel']:.3f} / {w['d1']:.3f} / {w['median_ratio']:.2f} | {m['abs_rel']:.3f} / {m['d1']:.3f} |"
        )


if __name__ == "__main__":
    main()
