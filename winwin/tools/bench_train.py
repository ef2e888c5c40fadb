"""``winwin bench train``: training step time and peak memory of one model at full resolution, on one
crop and on N windows with the same token budget (the paper's Figure 1, left). Each configuration runs
in its own subprocess so that peak memory is measured in isolation. A benchmark, never a test."""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time


def add_train_bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", help="task name (winwin.tasks.list_tasks(); default: the default task): its loss and data")
    p.add_argument("--model", default="tiny", help="registry name (demo, tiny, small, base)")
    p.add_argument("--head", default="convnext", choices=["linear", "convnext", "dpt"])
    p.add_argument("--image-size", type=int, nargs=2, default=[384, 640], metavar=("H", "W"))
    p.add_argument("--num-windows", type=int, default=2, help="with --window-size: the token budget of the step")
    p.add_argument("--window-size", type=int, default=11, help="side of each square window, in tokens")
    p.add_argument(
        "--windows", type=int, nargs="+", default=[2, 3, 4, 6],
        help="window counts compared at the same token budget (square windows of budget / N tokens)",
    )  # fmt: skip
    p.add_argument("--vitdet-window", type=int, default=0, help="also ViTDet at full resolution, this local window")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=5, help="timed steps per configuration (after 2 warm-up steps)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--compile", action="store_true", help="torch.compile the forward and loss (train.compile)")
    p.add_argument("-o", "--output", help="write the results as JSON here")


def crop_matching(tokens: int, grid: tuple[int, int]) -> tuple[int, int]:
    """The most square crop (h, w) whose area is closest to ``tokens`` and fits the grid."""
    h = min(grid[0], max(1, round(math.sqrt(tokens))))
    w = min(grid[1], max(1, round(tokens / h)))
    return h, w


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _worker(spec: dict) -> dict:
    """Run inside the subprocess: time ``steps`` training steps of one configuration."""
    import torch
    from torch.utils.data import DataLoader

    from ..data import DataConfig
    from ..engine.optim import build_optimizer, clip_gradients
    from ..engine.runtime import autocast, resolve_device
    from ..engine.step import loss_function, prepare
    from ..models import create_model
    from ..tasks import task_class
    from ..windows import WindowSpec
    from .flops import matmul_peak, step_flops

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = resolve_device(spec["device"])
    bf16 = spec["precision"] == "bf16"
    if spec["mode"] == "peak":
        return {"peak_flops": matmul_peak(device, torch.bfloat16 if bf16 else torch.float32)}
    task = task_class(spec["task"])()  # default settings, the task's embedded data at the benchmark's size
    B, (H, W) = spec["batch_size"], spec["image_size"]
    data = DataConfig(name=task.default_dataset, image_size=[H, W], train_length=B)
    dataset = task.build_dataset(data, "train", train=True)
    task = task.fitted_to(dataset)
    task.bind(dataset)
    batch = prepare(task, next(iter(DataLoader(dataset, batch_size=B))), None, device)
    settings = {**task.model_defaults, "head": spec["head"], "out_channels": task.out_channels()}
    settings.update(spec.get("model_extra") or {})
    model = create_model(spec["model"], **settings).to(device)
    optimizer = build_optimizer(model, 1e-4, 0.05, 0.75, (0.9, 0.95))
    grid = model.grid_size((H, W))
    gen = torch.Generator().manual_seed(0)
    window_spec = WindowSpec(num_windows=spec["num_windows"], window_size=list(spec["window_hw"]))
    n_steps = spec["steps"] + 3  # warm-up (compilation), timed, counted
    # the windows come ready with the batch in training (the loader draws them): not part of the step
    layouts = [
        None if spec["mode"] == "full" else task.sample_windows(window_spec, grid, batch.target, batch.valid, gen)
        for _ in range(n_steps)
    ]
    layouts = [
        w if w is None else tuple(x.to(device) for x in w) if isinstance(w, tuple) else w.to(device) for w in layouts
    ]
    eager = loss_function(task, model, model.patch_size)
    compiled = loss_function(task, model, model.patch_size, compile=spec.get("compile", False))

    def step(i: int, loss_fn=compiled) -> None:
        with autocast(device.type, bf16):
            loss = loss_fn(batch, layouts[i])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model, 1.0)
        optimizer.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    base_rss = _rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated() / 2**20
    tic = time.perf_counter()
    step(0)
    sync()
    first = time.perf_counter() - tic
    step(1)
    sync()
    times = []
    for i in range(spec["steps"]):
        tic = time.perf_counter()
        step(2 + i)
        sync()
        times.append(time.perf_counter() - tic)
    flops = step_flops(lambda: step(n_steps - 1, eager))  # the same computation, counted eagerly
    out = {"step_s": statistics.median(times), "images_per_s": B / statistics.median(times), "first_step_s": first}
    out.update(flops=flops["total"], attention_flops=flops["attention"], head_flops=flops["head"])
    out["flops_per_s"] = flops["total"] / out["step_s"]
    if device.type == "cuda":
        out["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["peak_over_model_mib"] = out["peak_mib"] - base_cuda
        out["memory_kind"] = "CUDA max_memory_allocated"
    else:
        out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["peak_over_model_mib"] = out["peak_mib"] - base_rss
        out["memory_kind"] = "process peak RSS"
    # gradients and AdamW's two moments live through every step: 3 x the trainable weights; the rest of the
    # peak over the model is the step's own memory (activations and temporaries), what windows shrink
    out["state_mib"] = 3 * sum(q.numel() * q.element_size() for q in model.parameters() if q.requires_grad) / 2**20
    out["step_mib"] = out["peak_over_model_mib"] - out["state_mib"]
    out["device"] = str(device)
    return out


def train_configs(args: argparse.Namespace, grid: tuple[int, int]) -> list[tuple]:
    """(label, mode, windows, (h, w), model settings) of each compared step: full resolution, ViTDet (when
    asked), one crop and ``--windows`` square windows, the last two at the token budget of ``--num-windows``
    windows of ``--window-size``."""
    from ..windows import check_fit

    budget = args.num_windows * args.window_size**2
    crop = crop_matching(budget, grid)
    configs = [("full resolution", "full", 1, grid, {})]
    if args.vitdet_window:
        w = args.vitdet_window
        configs.append((f"ViTDet, local {w}x{w}", "full", 1, grid, {"attention": "vitdet", "vitdet_window": w}))
    configs.append((f"1 crop {crop[0]}x{crop[1]}", "windows", 1, crop, {}))
    for n in args.windows:
        side = max(1, round(math.sqrt(budget / n)))
        configs.append((f"{n} windows {side}x{side}", "windows", n, (side, side), {}))
    for label, mode, n, hw, _ in configs:
        if mode == "windows":
            try:
                check_fit(grid, [tuple(hw)] * n)
            except ValueError as e:
                raise SystemExit(f"error: {label}: {e}") from None
    return configs


def _run_worker(spec: dict, label: str) -> dict:
    """One configuration in its own process (peak memory in isolation); its JSON result."""
    proc = subprocess.run(
        [sys.executable, "-m", "winwin.tools.bench_train", json.dumps(spec)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"error: benchmark worker for {label!r} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_train_bench(args: argparse.Namespace) -> list[dict]:
    from ..models import model_config
    from ..tasks import DEFAULT_TASK, list_tasks

    args.task = args.task or DEFAULT_TASK
    if args.task not in list_tasks():
        raise SystemExit(f"error: unknown task {args.task!r}; known tasks: {', '.join(list_tasks())}")

    cfg = model_config(args.model, head=args.head)
    H, W = args.image_size
    p = cfg.patch_size
    if H % p or W % p:
        raise SystemExit(f"error: --image-size {H}x{W} must be a multiple of the patch size {p}")
    grid = (H // p, W // p)
    configs = train_configs(args, grid)
    results = []
    base = dict(
        task=args.task,
        model=args.model,
        head=args.head,
        image_size=[H, W],
        batch_size=args.batch_size,
        steps=args.steps,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
        compile=args.compile,
    )
    peak = _run_worker(dict(base, mode="peak", num_windows=0, window_hw=[0, 0]), "matmul peak")["peak_flops"]
    for label, mode, n, hw, extra in configs:
        res = _run_worker(dict(base, mode=mode, num_windows=n, window_hw=list(hw), model_extra=extra), label)
        res.update(config=label, tokens=n * hw[0] * hw[1], peak_flops=peak)
        results.append(res)
        print(f"  measured {label}: {res['step_s'] * 1000:.0f} ms/step", file=sys.stderr)
    full = results[0]
    print(
        f"\nwinwin bench train: task {args.task}, model {args.model} ({cfg.embed_dim}d x {cfg.depth}, "
        f"{args.head} head), images {H}x{W} = {grid[0]}x{grid[1]} tokens, batch {args.batch_size}, "
        f"{args.precision}, {results[0]['device']}, "
        f"median of {args.steps} steps; memory = {full['memory_kind']}"
    )
    dtype = "bf16" if args.precision == "bf16" else "fp32"
    print(
        f"matrix-multiply peak in this run: {peak / 1e9:.0f} GFLOP/s ({dtype}); FLOPs per step counted with "
        f"FlopCounterMode, attention from its shapes; {'compiled' if args.compile else 'eager'}"
    )
    print(
        f"| {'configuration':<22} | tokens | ms/step | img/s | speed-up vs full | GFLOP/step | FLOP ratio vs full "
        "| speed-up / FLOP ratio | head share | GFLOP/s | % of peak | peak MiB | peak over model MiB "
        "| step MiB | step memory vs full | first step s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        speedup, flop_ratio = full["step_s"] / r["step_s"], full["flops"] / r["flops"]
        print(
            f"| {r['config']:<22} | {r['tokens']:>6} | {r['step_s'] * 1000:7.0f} | {r['images_per_s']:5.1f} | "
            f"{speedup:16.2f}x | {r['flops'] / 1e9:10.1f} | {flop_ratio:17.2f}x | {speedup / flop_ratio:21.2f} | "
            f"{100 * r['head_flops'] / r['flops']:9.0f}% | {r['flops_per_s'] / 1e9:7.0f} | "
            f"{100 * r['flops_per_s'] / peak:8.0f}% | {r['peak_mib']:8.0f} | {r['peak_over_model_mib']:19.0f} | "
            f"{r['step_mib']:8.0f} | {r['step_mib'] / full['step_mib']:18.2f}x | {r['first_step_s']:12.1f} |"
        )
    print(
        "step MiB: the peak over the model less the gradients and AdamW's two moments (3 x the trainable weights), "
        "i.e. the step's activations and temporaries"
    )
    if args.output:
        from pathlib import Path

        from ..files import atomic_write_text

        atomic_write_text(Path(args.output), json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
