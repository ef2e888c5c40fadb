"""Every row's training iteration, timed back to back in one process at the start of a reproduction: the
cost column and the equal-time comparison of the report use these, so their ratios hold even when the runs
themselves shared the machine with other work at different times (their wall times are reported too). The
report uses the step's compute (forward, loss, backward, AdamW): the loader's time is recorded beside it
(``with_data_s``) but left out, since these first batches are generated while training reads the embedded
data from memory after its first epoch (as run, a 2-window demo step took 0.089 s where its compute was
timed at 0.081 s).

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
from .machine import cpu_name

TIMED_STEPS = 5
WHAT = "median s of a training step's compute (with_data_s: and its batch), one process, rows back to back"


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


def step_seconds(cfg: ExperimentConfig, steps: int = TIMED_STEPS) -> tuple[float, float]:
    """Median seconds of one training iteration of ``cfg`` on the CPU, as the training loop runs it: (the
    whole iteration: the loader's batch and windows, forward, loss, backward, AdamW; its compute alone).
    After one untimed iteration; random weights (the cost does not depend on them)."""
    setup_runtime(cfg.train.seed, cfg.train.threads)
    model, loss_fn, batches = _step_parts(cfg, steps + 1)
    o = cfg.optim
    optimizer = build_optimizer(model, o.lr, o.weight_decay, o.layer_decay, tuple(o.betas))
    times, compute = [], []
    for i in range(steps + 1):
        tic = time.perf_counter()
        item = next(batches).to(torch.device("cpu"))
        loaded = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(*item).backward()
        optimizer.step()
        if i:  # the first iteration warms up
            times.append(time.perf_counter() - tic)
            compute.append(time.perf_counter() - loaded)
    return statistics.median(times), statistics.median(compute)


def timed_rows(configs: dict[str, ExperimentConfig], out: Path, say=print, measure: bool = True) -> dict[str, float]:
    """Seconds per step of each run key's config: the cached set if it covers every key, else all of them
    measured now, back to back (so that their ratios are taken at one time). ``measure=False``: the cached
    set as it is (empty if none)."""
    path = out / "timing.json"
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if cached.get("what") != WHAT:
        cached = {}
    if not measure or set(configs) <= set(cached.get("step_s", {})):
        return cached.get("step_s", {})
    say(f"reproduce: timing the training step of {len(configs)} runs, back to back")
    timed = {key: step_seconds(cfg) for key, cfg in configs.items()}
    record = {
        "what": WHAT, "measured": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_name(),
        "steps": TIMED_STEPS,
        "step_s": {key: t[1] for key, t in timed.items()}, "with_data_s": {key: t[0] for key, t in timed.items()},
    }  # fmt: skip
    atomic_write_text(path, json.dumps(record, indent=2))
    return record["step_s"]


def timed_on(out: Path) -> str | None:
    """Where and when ``OUT/timing.json`` was measured ("CPU, date"), or None without a record."""
    path = out / "timing.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return f"{record.get('cpu', 'CPU not recorded')}, {record.get('measured', '?')}"
