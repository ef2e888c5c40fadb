"""Every row's training step, timed back to back in one process at the start of a reproduction: the cost
column and the equal-time comparison of the report use these, so their ratios hold even when the runs
themselves shared the machine with other work at different times (their wall times are reported too).

``OUT/timing.json`` keeps one set of timings; it is measured again, for every row, when a row is missing."""

from __future__ import annotations

import datetime
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..engine.config import ExperimentConfig
from ..engine.distributed import Dist
from ..engine.optim import build_optimizer
from ..engine.runtime import setup_runtime
from ..engine.step import loss_function
from ..engine.train import build_datasets, check_against_data, train_loader
from ..files import atomic_write_text
from ..models import build_model
from ..tasks import build_task

TIMED_STEPS = 5


def _step_parts(cfg: ExperimentConfig, steps: int = 1):
    """(model, its loss function, ``steps`` training batches) of ``cfg`` on the CPU, random weights."""
    cfg = replace(cfg, train=replace(cfg.train, steps=steps))
    task = build_task(cfg.task)
    train_set, _ = build_datasets(task, cfg)
    grid = check_against_data(cfg, task, train_set)
    model = build_model(cfg.model).train()
    batches = iter(train_loader(cfg, task, train_set, grid, 0, Dist(), torch.device("cpu")))
    return model, loss_function(task, model, cfg.model.patch_size), batches


def step_flops_of(cfg: ExperimentConfig) -> float:
    """FLOPs of one training step of ``cfg`` (forward, loss, backward), counted as ``bench train`` does."""
    from ..tools.flops import step_flops

    _, loss_fn, batches = _step_parts(cfg)
    item = next(batches).to(torch.device("cpu"))
    return float(step_flops(lambda: loss_fn(*item).backward())["total"])


def step_seconds(cfg: ExperimentConfig, steps: int = TIMED_STEPS) -> float:
    """Median seconds of one training step of ``cfg`` on the CPU (forward, loss, backward, AdamW), after one
    untimed step; random weights (the cost does not depend on them)."""
    setup_runtime(cfg.train.seed, cfg.train.threads)
    model, loss_fn, batches = _step_parts(cfg, steps + 1)
    o = cfg.optim
    optimizer = build_optimizer(model, o.lr, o.weight_decay, o.layer_decay, tuple(o.betas))
    times = []
    for i in range(steps + 1):
        item = next(batches).to(torch.device("cpu"))
        tic = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(*item).backward()
        optimizer.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - tic)
    return statistics.median(times)


def timed_rows(configs: dict[str, ExperimentConfig], out: Path, say=print) -> dict[str, float]:
    """Seconds per step of each run key's config: the cached set if it covers every key, else all of them
    measured now, back to back (so that their ratios are taken at one time)."""
    path = out / "timing.json"
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if set(configs) <= set(cached.get("step_s", {})):
        return cached["step_s"]
    say(f"reproduce: timing the training step of {len(configs)} runs, back to back")
    step_s = {key: step_seconds(cfg) for key, cfg in configs.items()}
    record = {"measured": datetime.datetime.now().isoformat(timespec="seconds"), "steps": TIMED_STEPS, "step_s": step_s}
    atomic_write_text(path, json.dumps(record, indent=2))
    return step_s
