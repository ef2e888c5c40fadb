"""The measuring side of ``winwin bench inference``: one configuration (an image size and a strategy: the full
pass, tiling at one overlap, or resize), timed in a subprocess of its own so that its peak memory is its own,
and the FLOP count of one forward on the meta device. ``python -m winwin.tools.bench_inference_worker SPEC``
prints the measurement of the JSON ``SPEC`` as one JSON line."""

from __future__ import annotations

import json
import resource
import sys
import time


def build(spec: dict, device):
    """The task and the (randomly initialised, eval mode) model of ``spec``'s task with its defaults."""
    from ..models import create_model
    from ..tasks import task_class

    task = task_class(spec["task"])()
    model = create_model(spec["model"], **{**task.model_defaults, "out_channels": task.out_channels()})
    return task, model.eval().to(device)


def count_flops(spec: dict, hw: tuple[int, int]) -> float:
    """FLOPs of one forward of the model on inputs of ``hw`` px (batch 1), counted on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    task, model = build(spec, "meta")
    inputs = [torch.empty(1, 3, *hw, device="meta") for _ in range(task.num_inputs)]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    return float(counter.get_total_flops())


def rss_mib() -> float:
    """Resident memory of this process now, MiB (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return peak_rss_mib()


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def tile_count(hw: tuple[int, int], tile: tuple[int, int], overlap: float) -> int:
    from ..inference import tile_grid

    return len(tile_grid(hw, (min(tile[0], hw[0]), min(tile[1], hw[1])), overlap))


def measure(spec: dict) -> dict:
    """Time one configuration: ``spec["mode"]`` full | tiling | resize on ``spec["image_size"]``."""
    import torch

    from ..engine.runtime import autocast, resolve_device
    from ..inference import full_resolution, resized, tile_grid, tiled

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = resolve_device(spec["device"])
    task, model = build(spec, device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    baseline = torch.cuda.memory_allocated() / 2**20 if cuda else rss_mib()  # the model's weights (+ runtime)
    H, W = spec["image_size"]
    inputs = [torch.randn(1, 3, H, W, device=device) for _ in range(task.num_inputs)]
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    mixed = autocast(device.type, spec["precision"] == "bf16")
    tile = tuple(spec["tile"])
    th, tw = min(tile[0], H), min(tile[1], W)
    mode, overlap, batch = spec["mode"], spec["overlap"], spec["tile_batch"]
    corners = tile_grid((H, W), (th, tw), overlap) if mode == "tiling" else [(0, 0)]
    n_tiles = len(corners)
    timed_tiles = min(n_tiles, spec["max_tiles"]) if spec["max_tiles"] and mode == "tiling" else n_tiles

    def first_tiles() -> None:
        """The first ``timed_tiles`` tiles exactly as ``tiled`` runs them (crops, batches, weights, blending)."""
        acc = torch.zeros(1, task.out_channels(), H, W, device=device)
        weight_sum = torch.zeros(1, 1, H, W, device=device)
        for start in range(0, timed_tiles, batch):
            chunk = corners[start : min(start + batch, timed_tiles)]
            crops = [torch.cat([x[..., y : y + th, x0 : x0 + tw] for y, x0 in chunk]) for x in inputs]
            out = full_resolution(model, crops).float()  # (n, K, th, tw)
            weights = task.tile_weights(out)
            weights = torch.ones_like(out[:, :1]) if weights is None else weights.float()
            for i, (y, x0) in enumerate(chunk):
                acc[..., y : y + th, x0 : x0 + tw] += out[i : i + 1] * weights[i : i + 1]
                weight_sum[..., y : y + th, x0 : x0 + tw] += weights[i : i + 1]

    def run() -> None:
        with mixed:
            if mode == "full":
                full_resolution(model, inputs)
            elif mode == "resize":
                resized(model, task, inputs, tile)
            elif timed_tiles == n_tiles:
                tiled(model, task, inputs, tile, overlap, tile_batch=batch)
            else:
                first_tiles()
        sync()

    warmup = spec["warmup"] if spec["warmup"] >= 0 else (1 if cuda else 0)
    if cuda:
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
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
        out.update(peak_mib=peak, memory_kind="CUDA max_memory_allocated")
    else:
        peak = peak_rss_mib()
        out.update(peak_mib=peak - baseline, memory_kind="peak RSS above the model's baseline")
    out.update(baseline_mib=baseline, peak_total_mib=peak)
    return out


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
