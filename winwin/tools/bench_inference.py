"""``winwin bench inference``: wall time, peak memory and FLOPs of one full-resolution pass against tiling
(tiles of the training crop size at several overlaps), on the same model and inputs (the paper's Figure 1,
right: Win-Win is more than ten times faster than CroCo-Flow's tiling on Spring's Full-HD pairs).

Each configuration runs in its own subprocess, so that peak memory is measured in isolation. The model is
randomly initialised (speed does not depend on the weights). FLOPs are counted by ``FlopCounterMode`` on the
meta device (no compute; attention runs as matrix products there, so it is counted too). On a slow machine
``--max-tiles N`` times the first N tiles of each tiling and extrapolates to all of them (tiles are identical
work); the table says so. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def add_inference_bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="flow", help="task (its inputs, head defaults and tile blending)")
    p.add_argument("--model", default="base", help="registry name (demo, tiny, small, base)")
    p.add_argument("--image-size", type=int, nargs=2, default=[1080, 1920], metavar=("H", "W"))
    p.add_argument("--tile", type=int, nargs=2, default=[320, 384], metavar=("H", "W"), help="training crop size")
    p.add_argument("--overlaps", type=float, nargs="+", default=[0.5, 0.9])
    p.add_argument("--tile-batch", type=int, default=8, help="tiles per forward")
    p.add_argument("--max-tiles", type=int, default=0, help="time only this many tiles and extrapolate (0: all)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs of each configuration (the median is kept)")
    p.add_argument("--warmup", type=int, default=-1, help="untimed runs first (default: 1 on CUDA, 0 on CPU)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("-o", "--output", help="write the results as JSON here")


def _build(spec: dict, device):
    from ..models import create_model
    from ..tasks import task_class

    task = task_class(spec["task"])()
    model = create_model(spec["model"], **{**task.model_defaults, "out_channels": task.out_channels()})
    return task, model.eval().to(device)


def count_flops(spec: dict, hw: tuple[int, int]) -> float:
    """FLOPs of one forward of the model on inputs of ``hw`` px (batch 1), counted on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    task, model = _build(spec, "meta")
    inputs = [torch.empty(1, 3, *hw, device="meta") for _ in range(task.num_inputs)]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    return float(counter.get_total_flops())


def _worker(spec: dict) -> dict:
    """Inside the subprocess: time one configuration (full pass, or tiling at one overlap)."""
    import torch

    from ..engine.runtime import autocast, resolve_device
    from ..inference import full_resolution, tile_grid, tiled

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = resolve_device(spec["device"])
    task, model = _build(spec, device)
    H, W = spec["image_size"]
    inputs = [torch.randn(1, 3, H, W, device=device) for _ in range(task.num_inputs)]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    mixed = autocast(device.type, spec["precision"] == "bf16")
    tile = tuple(spec["tile"])
    n_tiles = len(tile_grid((H, W), tile, spec["overlap"])) if spec["mode"] == "tiling" else 1
    timed_tiles = n_tiles if not spec["max_tiles"] else min(n_tiles, spec["max_tiles"])

    def run() -> None:
        with mixed:
            if spec["mode"] == "full":
                full_resolution(model, inputs)
            elif timed_tiles == n_tiles:
                tiled(model, task, inputs, tile, spec["overlap"], tile_batch=spec["tile_batch"])
            else:  # the first tiles only, in batches as ``tiled`` runs them
                crops = [x[..., : tile[0], : tile[1]] for x in inputs]
                for start in range(0, timed_tiles, spec["tile_batch"]):
                    n = min(spec["tile_batch"], timed_tiles - start)
                    out = full_resolution(model, [c.expand(n, -1, -1, -1) for c in crops]).float()
                    task.tile_weights(out)
        sync()

    warmup = spec["warmup"] if spec["warmup"] >= 0 else (1 if device.type == "cuda" else 0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        run()
    times = []
    for _ in range(spec["repeats"]):
        tic = time.perf_counter()
        run()
        times.append(time.perf_counter() - tic)
    seconds = sorted(times)[len(times) // 2] * n_tiles / timed_tiles
    out = {"seconds": seconds, "tiles": n_tiles, "timed_tiles": timed_tiles, "device": str(device)}
    if device.type == "cuda":
        out["peak_mib"], out["memory_kind"] = torch.cuda.max_memory_allocated() / 2**20, "CUDA max allocated"
    else:
        out["peak_mib"], out["memory_kind"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak RSS"
    return out


def _matmul_peak() -> float:
    """fp32 GFLOP/s of a 2048^3 matrix product on this machine, now (for the record next to the timings)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    tic = time.perf_counter()
    for _ in range(3):
        a @ b
    return 3 * 2 * 2048**3 / (time.perf_counter() - tic) / 1e9


def run_inference_bench(args: argparse.Namespace) -> list[dict]:
    from ..inference import tile_grid
    from ..tasks import list_tasks

    if args.task not in list_tasks():
        raise SystemExit(f"error: unknown task {args.task!r}; known tasks: {', '.join(list_tasks())}")
    if any(not 0 <= o < 1 for o in args.overlaps):
        raise SystemExit(f"error: overlaps must be in [0, 1), got {args.overlaps}")
    H, W = args.image_size
    base = {k: getattr(args, k) for k in ("task", "model", "tile_batch", "max_tiles", "repeats", "warmup")}
    base.update(device=args.device, precision=args.precision, threads=args.threads, image_size=[H, W], tile=args.tile)
    configs = [("full resolution, one pass", dict(base, mode="full", overlap=0.0))]
    configs += [
        (f"tiling {args.tile[0]}x{args.tile[1]}, overlap {o:g}", dict(base, mode="tiling", overlap=o))
        for o in args.overlaps
    ]
    full_flops = count_flops(base, (H, W))
    tile_flops = count_flops(base, (min(args.tile[0], H), min(args.tile[1], W)))
    peak = _matmul_peak()  # CPU fp32, for the record next to CPU timings
    results = []
    for label, spec in configs:
        proc = subprocess.run(
            [sys.executable, "-m", "winwin.tools.bench_inference", json.dumps(spec)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"error: benchmark worker for {label!r} failed:\n{proc.stderr[-2000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        n = len(tile_grid((H, W), tuple(args.tile), spec["overlap"])) if spec["mode"] == "tiling" else 1
        res.update(config=label, flops=full_flops if spec["mode"] == "full" else n * tile_flops)
        results.append(res)
        print(f"  measured {label}: {res['seconds']:.2f} s", file=sys.stderr)
    full = results[0]
    print(
        f"\nwinwin bench inference: task {args.task}, model {args.model}, inputs {H}x{W}, {args.precision}, "
        f"{full['device']}, memory = {full['memory_kind']}; fp32 2048^3 matmul {peak:.0f} GFLOP/s in this run"
    )
    print("| configuration | tiles | seconds | TFLOP | full pass faster by | FLOP ratio | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        timed = "" if r["timed_tiles"] == r["tiles"] else f" (extrapolated from {r['timed_tiles']})"
        print(
            f"| {r['config']} | {r['tiles']} | {r['seconds']:.2f}{timed} | {r['flops'] / 1e12:.2f} | "
            f"{r['seconds'] / full['seconds']:.1f}x | {r['flops'] / full['flops']:.1f}x | {r['peak_mib']:.0f} |"
        )
    if args.output:
        from ..files import atomic_write_text

        meta = {"matmul_gflops": peak, "args": vars(args) | {"func": None}}
        atomic_write_text(Path(args.output), json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    return results


if __name__ == "__main__":
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
