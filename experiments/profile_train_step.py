"""Where the time of one training step goes (torch.profiler, CPU): the ops by self time, and the share of
matrix products (linear / matmul / attention / convolution) against everything else. Used to explain the
gap between a step's GFLOP/s and the matmul peak (docs/results.md).

    python experiments/profile_train_step.py --model base --image-size 448 768 --windows 2 --window-size 13
    python experiments/profile_train_step.py --model base --image-size 448 768 --windows 0   # full resolution
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader

from winwin.data import DataConfig
from winwin.engine.optim import build_optimizer, clip_gradients
from winwin.engine.step import loss_function, prepare
from winwin.models import create_model
from winwin.tasks import DEFAULT_TASK, task_class
from winwin.windows import WindowSpec

PRODUCTS = ("mm", "addmm", "bmm", "matmul", "linear", "scaled_dot_product", "flash_attention", "convolution", "conv2d")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="base")
    ap.add_argument("--image-size", type=int, nargs=2, default=[448, 768])
    ap.add_argument("--windows", type=int, default=2, help="0: full resolution")
    ap.add_argument("--window-size", type=int, default=13)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--rows", type=int, default=20)
    args = ap.parse_args()
    torch.manual_seed(0)
    task = task_class(DEFAULT_TASK)()
    H, W = args.image_size
    data = DataConfig(name=task.default_dataset, image_size=[H, W], train_length=2)
    dataset = task.build_dataset(data, "train", train=True)
    task = task.fitted_to(dataset)
    task.bind(dataset)
    batch = prepare(task, next(iter(DataLoader(dataset, batch_size=args.batch_size))), None, "cpu")
    settings = {**task.model_defaults, "head": "convnext", "out_channels": task.out_channels()}
    model = create_model(args.model, **settings)
    optimizer = build_optimizer(model, 1e-4, 0.05, 0.75, (0.9, 0.95))
    grid = model.grid_size((H, W))
    spec = WindowSpec(num_windows=max(args.windows, 1), window_size=[args.window_size] * 2)
    gen = torch.Generator().manual_seed(0)
    loss_fn = loss_function(task, model, model.patch_size)

    def step() -> None:
        windows = None if args.windows == 0 else task.sample_windows(spec, grid, batch.target, batch.valid, gen)
        loss = loss_fn(batch, windows)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model, 1.0)
        optimizer.step()

    step()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    products = sum(e.self_cpu_time_total for e in events if any(k in e.key for k in PRODUCTS))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(f"self time: {total / 1e3:.0f} ms; matrix products and convolutions {100 * products / total:.0f}%, "
          f"the rest (elementwise, norms, copies, optimizer) {100 * (total - products) / total:.0f}%")  # fmt: skip


if __name__ == "__main__":
    main()
