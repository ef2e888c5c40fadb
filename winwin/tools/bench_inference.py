"""``winwin bench inference`` (alias ``infer``): wall time, peak memory and FLOPs of one full-resolution pass
against tiling (tiles of the training crop size at several overlaps) and resize (the image resized to the
tile size, the prediction resized back), for one or several image sizes, on the same model and inputs (the
paper's Figure 1, right: Win-Win is more than ten times faster than CroCo-Flow's tiling on Spring's Full-HD
pairs).

Each configuration (image size x strategy) runs in its own subprocess (``bench_inference_worker``), so that
peak memory is measured in isolation: on the CPU the peak RSS of that process less its RSS once the model is
built, on CUDA ``max_memory_allocated``. The model is randomly initialised (speed does not depend on the
weights) with the task's defaults (``--task flow``: the binocular CroCo-Flow model with its DPT head;
``--task segmentation``: the encoder with the ConvNeXt head). FLOPs are counted by ``FlopCounterMode`` on
the meta device (no compute; attention runs as matrix products there, so it is counted too). On a slow
machine ``--max-tiles N`` times the first N tiles of each tiling and extrapolates to all of them (tiles are
identical work); the table says so. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ..errors import InputError
from .bench_inference_worker import count_flops, tile_count

STRATEGIES = ("full", "tiling", "resize")


def add_inference_bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="flow", help="task (its inputs, model defaults and tile blending)")
    p.add_argument("--model", default="base", help="registry name (demo, tiny, small, base)")
    p.add_argument(
        "--image-sizes", nargs="+", metavar="HxW", help="image sizes, e.g. 512x512 1080x1920 (default 1080x1920)"
    )
    p.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="one image size (as --image-sizes)")
    p.add_argument(
        "--tile", type=int, nargs=2, default=[320, 384], metavar=("H", "W"), help="training crop size: tiles, resize"
    )
    p.add_argument("--overlaps", type=float, nargs="+", default=[0.5, 0.7, 0.9], help="tiling overlaps")
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES, help="what to time")
    p.add_argument("--tile-batch", type=int, default=8, help="tiles per forward")
    p.add_argument("--max-tiles", type=int, default=0, help="time only this many tiles and extrapolate (0: all)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs of each configuration (the median is kept)")
    p.add_argument("--warmup", type=int, default=-1, help="untimed runs first (default: 1 on CUDA, 0 on CPU)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("-o", "--output", help="write the results as JSON here")


def image_sizes(args: argparse.Namespace) -> list[tuple[int, int]]:
    """The sizes asked for: ``--image-sizes HxW ...`` or ``--image-size H W`` (not both); 1080x1920 by default."""
    from ..inference.options import parse_hw

    if args.image_sizes and args.image_size:
        raise InputError("give --image-sizes HxW ... or --image-size H W, not both")
    if args.image_size:
        if min(args.image_size) < 1:
            raise InputError(f"--image-size must be positive, got {args.image_size}")
        return [tuple(args.image_size)]
    return [parse_hw(s) for s in args.image_sizes] if args.image_sizes else [(1080, 1920)]


def _check(args: argparse.Namespace) -> None:
    from ..models import list_models
    from ..tasks import list_tasks

    if args.task not in list_tasks():
        raise InputError(f"unknown task {args.task!r}; known tasks: {', '.join(list_tasks())}")
    if args.model not in list_models():
        raise InputError(f"unknown model {args.model!r}; known models: {', '.join(list_models())}")
    if any(not 0 <= o < 1 for o in args.overlaps):
        raise InputError(f"overlaps must be in [0, 1), got {args.overlaps}")
    if min(args.tile) < 1 or args.tile_batch < 1 or args.repeats < 1 or args.max_tiles < 0:
        raise InputError("--tile, --tile-batch and --repeats must be positive, --max-tiles >= 0")


def matmul_gflops() -> float:
    """fp32 GFLOP/s of a 2048^3 matrix product on this machine, now (for the record next to the timings)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    tic = time.perf_counter()
    for _ in range(3):
        a @ b
    return 3 * 2 * 2048**3 / (time.perf_counter() - tic) / 1e9


def _configs(args: argparse.Namespace, base: dict, hw: tuple[int, int]) -> list[tuple[str, dict]]:
    th, tw = args.tile
    out = []
    for strategy in args.strategies:  # in the order asked
        if strategy == "full":
            out.append(("full resolution, one pass", dict(base, image_size=list(hw), mode="full", overlap=0.0)))
        elif strategy == "resize":
            out.append((f"resize to {th}x{tw}", dict(base, image_size=list(hw), mode="resize", overlap=0.0)))
        else:
            out += [
                (f"tiling {th}x{tw}, overlap {o:g}", dict(base, image_size=list(hw), mode="tiling", overlap=o))
                for o in args.overlaps
            ]
    return out


def _run_worker(spec: dict) -> dict:
    cmd = [sys.executable, "-m", "winwin.tools.bench_inference_worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or [f"killed by signal {-proc.returncode}"]
        return {"failed": f"exit status {proc.returncode}: {why[0][:200]}", "stderr": proc.stderr[-4000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt_row(r: dict, full: dict | None) -> str:
    hw = "x".join(map(str, r["image_size"]))
    if "failed" in r:
        return f"| {hw} | {r['config']} | | failed: {r['failed']} | | {r['flops'] / 1e12:.2f} | | |"
    timed = "" if r["timed_tiles"] == r["tiles"] else f" (extrapolated from {r['timed_tiles']} tiles)"
    ok = full is not None and "failed" not in full
    t_ratio = f"{r['seconds'] / full['seconds']:.2f}x" if ok else "-"
    f_ratio = f"{r['flops'] / full['flops']:.2f}x" if full is not None else "-"
    return (
        f"| {hw} | {r['config']} | {r['tiles']} | {r['seconds']:.2f}{timed} | {t_ratio} | "
        f"{r['flops'] / 1e12:.2f} | {f_ratio} | {r['peak_mib']:.0f} |"
    )


def run_inference_bench(args: argparse.Namespace) -> list[dict]:
    _check(args)
    sizes = image_sizes(args)
    base = {k: getattr(args, k) for k in ("task", "model", "tile_batch", "max_tiles", "repeats", "warmup")}
    base.update(device=args.device, precision=args.precision, threads=args.threads, tile=list(args.tile))
    tile = tuple(args.tile)
    gflops_before = matmul_gflops()  # CPU fp32, for the record next to CPU timings (others may share the CPU)
    flops: dict[tuple[int, int], float] = {}

    def flops_of(hw: tuple[int, int]) -> float:
        if hw not in flops:
            flops[hw] = count_flops(base, hw)
        return flops[hw]

    results = []
    for hw in sizes:
        for label, spec in _configs(args, base, hw):
            mode = spec["mode"]
            if mode == "full":
                n, work = 1, flops_of(hw)
            elif mode == "resize":
                n, work = 1, flops_of(tile)
            else:
                n = tile_count(hw, tile, spec["overlap"])
                work = n * flops_of((min(tile[0], hw[0]), min(tile[1], hw[1])))
            tic = time.perf_counter()
            res = _run_worker(spec)
            res.update(config=label, mode=mode, overlap=spec["overlap"], image_size=list(hw), flops=work)
            res.setdefault("tiles", n)
            results.append(res)
            said = res.get("failed") or f"{res['seconds']:.2f} s"
            print(f"  {hw[0]}x{hw[1]} {label}: {said} ({time.perf_counter() - tic:.0f} s wall)", file=sys.stderr)
    gflops_after = matmul_gflops()
    ok = [r for r in results if "failed" not in r]
    device, memory = (ok[0]["device"], ok[0]["memory_kind"]) if ok else (args.device, "-")
    print(
        f"\nwinwin bench inference: task {args.task}, model {args.model}, {args.precision}, {device}; "
        f"memory = {memory}; fp32 2048^3 matmul {gflops_before:.0f} GFLOP/s before, {gflops_after:.0f} after"
    )
    print("| image | strategy | tiles | seconds | time vs full | TFLOP | FLOP vs full | peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        full = next((f for f in results if f["mode"] == "full" and f["image_size"] == r["image_size"]), None)
        print(_fmt_row(r, full))
    if args.output:
        from ..files import atomic_write_text

        meta = {"matmul_gflops": [gflops_before, gflops_after], "args": vars(args) | {"func": None}}
        atomic_write_text(Path(args.output), json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    failed = [r for r in results if "failed" in r]
    if failed:
        for r in failed:
            print(f"\n{r['config']} at {r['image_size']} failed:\n{r['stderr']}", file=sys.stderr)
        raise SystemExit(f"error: {len(failed)} benchmark configuration(s) failed")
    return results
