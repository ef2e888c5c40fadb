"""The training loop's parts for a tiny experiment, built as ``winwin.engine.train`` builds them, for tests
that drive single steps."""

from __future__ import annotations

import torch

from winwin.engine.config import load_config
from winwin.engine.distributed import Dist
from winwin.engine.loop import Loop, Meter
from winwin.engine.resume import restore
from winwin.engine.step import loss_function
from winwin.engine.train import build_datasets, check_against_data, train_loader
from winwin.engine.train_checkpoints import CheckpointStore
from winwin.tasks import build_task


def make_loop(overrides: list[str], tmp_path, compile: bool = False, steps: int = 4) -> tuple[Loop, iter]:
    """(loop, iterator of its prepared steps) on the CPU, one process."""
    cfg = load_config(None, [*overrides, f"out_dir={tmp_path}", "name=parts", f"train.steps={steps}"])
    task = build_task(cfg.task)
    train_set, val_set = build_datasets(task, cfg)
    grid = check_against_data(cfg, task, train_set)
    device, d = torch.device("cpu"), Dist()
    store = CheckpointStore(tmp_path / "checkpoints")
    model, optimizer, _ = restore(cfg, store, device, report=lambda _: None)
    batches = iter(train_loader(cfg, task, train_set, grid, 0, d, device))
    loss_fn = loss_function(task, model, cfg.model.patch_size, compile)
    loop = Loop(cfg, task, grid, model, model, optimizer, store, tmp_path, val_set, d, device, Meter(), loss_fn)
    return loop, batches
