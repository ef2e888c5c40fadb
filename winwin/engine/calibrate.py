"""Test-time softmax temperature (paper Sec. 3 "Feature distribution changes", Sec. 4.2, Appendix D).

The full image has several times more tokens than the training windows, which changes the attention's
softmax statistics. With every weight fixed, two calibrations on full-resolution *training* images:

- ``sweep_temperature``: one multiplier of the 1/sqrt(D) scale for every attention layer, chosen as the
  minimum of the training loss over a grid (App. D: 700 images, bell-shaped curves).
- ``learn_head_temperatures``: one temperature per head of every attention layer, learned with every
  other parameter frozen, for a short schedule (App. D "Learning the temperature", Sec. 4.2).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from ..inference import full_resolution
from ..models.temperature import enable_head_temperatures
from ..tasks import Task
from .evaluate import Score
from .optim import lr_at, set_lr
from .runtime import autocast
from .step import batch_loss, prepare
from .stream import endless

DEFAULT_SWEEP = "0.5:1.5:0.05"


def parse_sweep(text: str) -> list[float]:
    """``"START:STOP:STEP"`` -> the multipliers from START to STOP inclusive, e.g. 0.5:1.5:0.05 -> 21 values."""
    parts = text.split(":")
    try:
        start, stop, step = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"--sweep takes START:STOP:STEP with three numbers, e.g. {DEFAULT_SWEEP}; got {text!r}"
        ) from None
    if not (start > 0 and stop >= start and step > 0):
        raise ValueError(f"--sweep {text!r}: need 0 < START <= STOP and STEP > 0 (e.g. {DEFAULT_SWEEP})")
    count = int(math.floor((stop - start) / step + 1e-6)) + 1
    if count > 1000:
        raise ValueError(f"--sweep {text!r} asks for {count} temperatures; use a coarser STEP (at most 1000 values)")
    return [round(start + i * step, 10) for i in range(count)]


class CalibrationImages(Subset):
    """An evenly spread, fixed subset of a dataset (the training images the sweep is measured on)."""

    def __init__(self, dataset: Dataset, count: int) -> None:
        n = len(dataset)
        if count < 1:
            raise ValueError(f"need at least 1 calibration image, got {count}")
        indices = sorted(set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist()))
        super().__init__(dataset, indices)


@torch.no_grad()
def sweep_temperature(
    task: Task,
    model: nn.Module,
    dataset: Dataset,
    temperatures: list[float],
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    bf16: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Full-resolution loss and task metrics for each temperature (every attention layer, every head),
    with the weights fixed. Each batch is loaded once and run at every temperature. One dict per value."""
    device = torch.device(device)
    scores = [Score(task) for _ in temperatures]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for raw in tqdm(loader, desc="sweep", disable=not progress, leave=False):
        batch = prepare(task, raw, None, device, extras=True)
        for t, score in zip(temperatures, scores):
            with autocast(device.type, bf16):
                score.update(full_resolution(model, batch.inputs, t), batch)  # (B, K, H, W)
    return [{"temperature": t, **s.compute()} for t, s in zip(temperatures, scores)]


def selection_key(task: Task, select: str) -> tuple[str, bool]:
    """``--select`` -> (the curve's column, higher is better). ``loss`` is the paper's criterion (App. D);
    ``metric`` (or the metric's own name) is the task's primary metric."""
    metric = task.metric()
    if select == "loss":
        return "loss", False
    if select in ("metric", metric.primary):
        return metric.primary, metric.higher_is_better
    raise ValueError(
        f"unknown selection criterion {select!r} for task {task.name!r}: use loss or metric "
        f"(= {metric.primary}, {'higher' if metric.higher_is_better else 'lower'} is better)"
    )


def best_temperature(curve: list[dict], key: str = "loss", higher_is_better: bool = False) -> dict:
    """The row with the best ``key`` (the lowest loss by default, the paper's choice, App. D); ties go to
    the value closest to 1, i.e. the least change."""
    sign = -1.0 if higher_is_better else 1.0
    return min(curve, key=lambda r: (sign * r[key], abs(math.log(r["temperature"]))))


def learn_head_temperatures(
    task: Task,
    model: nn.Module,
    dataset: Dataset,
    steps: int = 200,
    lr: float = 0.01,
    batch_size: int = 2,
    device: torch.device | str = "cpu",
    seed: int = 0,
    bf16: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Learn one temperature per head of every attention layer on full-resolution images, everything else
    frozen. Heads start from their layer's current shared temperature (the swept value after a sweep).

    Adam on the log-temperatures (positive by construction), cosine decay to lr/10, no weight decay.
    Afterwards every other parameter is checked to be bit-identical to before (RuntimeError otherwise).
    Returns the log, one dict per step.
    """
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"learning needs steps >= 1, batch_size >= 1 and lr > 0, got {steps}, {batch_size}, {lr}")
    device = torch.device(device)
    model.eval()  # no dropout / stochastic depth: the network is the one used at test time
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    requires = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    params = enable_head_temperatures(model)  # (heads,) per layer, trainable
    optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99))
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(seed)
    )
    if len(loader) == 0:
        raise ValueError(f"batch_size {batch_size} is larger than the {len(dataset)} calibration images")
    batches, log = endless(loader), []
    bar = tqdm(range(steps), desc="learn temperatures", disable=not progress, dynamic_ncols=True)
    try:
        for step in bar:
            batch = prepare(task, next(batches), None, device)
            step_lr = lr_at(step, steps, lr, 0, lr / 10)
            set_lr(optimizer, step_lr)
            with autocast(device.type, bf16):
                loss = batch_loss(task, model, batch)  # full images, one forward
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            temps = torch.cat([p.detach().exp() for p in params])
            log.append(
                {
                    "step": step + 1,
                    "loss": loss.item(),
                    "lr": step_lr,
                    "mean": temps.mean().item(),
                    "min": temps.min().item(),
                    "max": temps.max().item(),
                }
            )
            bar.set_postfix(loss=f"{log[-1]['loss']:.4f}", t=f"{log[-1]['mean']:.3f}")
    finally:
        for name, p in model.named_parameters():
            if name in requires:
                p.requires_grad_(requires[name])
    _check_only_temperatures_changed(model, before)
    return log


def _check_only_temperatures_changed(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    changed = [
        name
        for name, p in model.named_parameters()
        if name in before and not name.endswith("log_temperature") and not torch.equal(p.detach(), before[name])
    ]
    if changed:
        raise RuntimeError(f"temperature calibration changed frozen parameters: {changed[:5]}")
