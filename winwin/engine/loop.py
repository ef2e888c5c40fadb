"""The training steps of one process: a step (windows drawn, forward, loss, backward, AdamW), the
scalars it logs, checkpoints, evaluations during training and stopping on a pre-emption notice.

Every random draw of step ``s`` comes from generators derived from (seed, s, rank) (``stream``), so the
loop keeps no random state between steps; what it keeps (the loss average) is saved with each checkpoint."""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset
from tqdm import tqdm

from ..errors import Interrupted
from ..tasks import Task
from .config import ExperimentConfig
from .distributed import Dist, gather_merged, mean_over_processes, same_weights_everywhere
from .evaluate import score_dataset
from .optim import clip_gradients, lr_at, set_lr
from .run_log import RunLog
from .runtime import autocast
from .step import batch_loss, prepare
from .stop import StopSignals
from .stream import seed_step, window_generator
from .train_checkpoints import CheckpointStore

STREAM = "winwin-stream-1"  # how data order and random streams derive from (seed, step); saved with each state


def evaluate_processes(
    task: Task, model: nn.Module, val_set: Dataset, device, d: Dist, batch_size: int, bf16: bool, progress: bool
) -> dict | None:
    """Full-resolution validation, each process scoring every ``world``-th image; the merged metrics on
    the main process (None on the others)."""
    share = Subset(val_set, range(d.rank, len(val_set), d.world)) if d.active else val_set
    score = score_dataset(task, model, share, device, batch_size, bf16=bf16, progress=progress and d.main)
    merged = gather_merged(score, d)
    return None if merged is None else merged.compute()


@dataclass
class Loop:
    """What the steps need. ``model`` is the module itself (checkpoints, clipping, evaluation), ``net``
    what the forward calls (DDP and / or compiled around ``model``)."""

    cfg: ExperimentConfig
    task: Task
    grid: tuple[int, int]
    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    store: CheckpointStore
    run_dir: Path
    val_set: Dataset
    d: Dist
    device: torch.device
    loss_avg: float | None = None  # exponential average of the training loss (logged)

    def step(self, step: int, raw: dict) -> tuple[float, float, float]:
        """One optimisation step on a loader batch -> (loss, gradient norm before clipping, lr)."""
        t, o, d = self.cfg.train, self.cfg.optim, self.d
        seed_step(t.seed, step, d.rank)
        patch = self.cfg.model.patch_size
        batch = prepare(self.task, raw, patch, self.device)
        gen = window_generator(t.seed, step)  # the same on every process: windows drawn for the global batch
        windows = self.task.sample_windows(
            self.cfg.windows, self.grid, batch.target, batch.valid, gen, (d.rank, d.world)
        )
        lr = lr_at(step, t.steps, o.lr, o.warmup_steps, o.min_lr)
        set_lr(self.optimizer, lr)
        with autocast(self.device.type, t.precision == "bf16"):
            loss = batch_loss(self.task, self.net, batch, _to(windows, self.device), patch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DDP, gradients are averaged over the processes here
        grad_norm = clip_gradients(self.model, o.clip_grad)  # of the averaged gradients: equal on every process
        value = loss.item()
        if not (math.isfinite(grad_norm) and math.isfinite(value)):
            raise FloatingPointError(
                f"loss {value}, gradient norm {grad_norm} at step {step}; lower optim.lr or check the data"
            )
        self.optimizer.step()
        self.loss_avg = value if self.loss_avg is None else 0.9 * self.loss_avg + 0.1 * value
        return value, grad_norm, lr

    def save(self, done: int) -> None:
        """A checkpoint after ``done`` steps (every process takes part: the weights are compared)."""
        prints = same_weights_everywhere(self.model, self.d)
        if self.d.main:
            t = self.cfg.train
            extra = {"run": str(self.run_dir), "rank_fingerprints": prints}
            state = {
                "step": done,
                "loss_avg": self.loss_avg,
                "world_size": self.d.world,
                "seed": t.seed,
                "stream": STREAM,
            }
            self.store.save(done, self.model, self.optimizer, self.task, extra, state)

    def evaluate(self, progress: bool = False) -> dict | None:
        t = self.cfg.train
        bf16 = t.precision == "bf16"
        return evaluate_processes(
            self.task, self.model, self.val_set, self.device, self.d, t.eval_batch_size, bf16, progress
        )

    def run(self, batches, start: int, log: RunLog, progress: bool) -> None:
        """Steps ``start`` to the end, logging, saving and evaluating as the config says; on SIGTERM or
        SIGUSR1 saves and raises ``Interrupted``."""
        t, d = self.cfg.train, self.d
        primary = self.task.metric().primary
        bar = tqdm(
            range(start, t.steps),
            initial=start,
            total=t.steps,
            desc=self.cfg.name,
            disable=not progress,
            dynamic_ncols=True,
        )
        tic, seen = time.perf_counter(), 0
        self.model.train()
        with StopSignals() as stop, bar:
            for step in bar:
                _, grad_norm, lr = self.step(step, next(batches))
                seen += t.batch_size
                done = step + 1
                if done % t.log_every == 0 or done == t.steps:
                    elapsed = time.perf_counter() - tic
                    loss = mean_over_processes({"loss": self.loss_avg}, d, self.device)["loss"]
                    log.record(done, {"loss": loss, "lr": lr, "grad_norm": grad_norm, "images_per_s": seen / elapsed})
                    bar.set_postfix(loss=f"{loss:.3f}", img_s=f"{seen / elapsed:.1f}", lr=f"{lr:.2e}")
                    tic, seen = time.perf_counter(), 0
                if done % t.ckpt_every == 0 or done == t.steps:
                    self.save(done)
                if t.eval_every and done % t.eval_every == 0 and done != t.steps:
                    metrics = self.evaluate()
                    if metrics is not None:
                        log.record(done, {f"val_{primary}": metrics[primary], "val_loss": metrics["loss"]})
                signum = stop.requested(d, self.device)  # a pre-emption notice: save, then stop
                if signum and done < t.steps:
                    if done % t.ckpt_every:
                        self.save(done)
                    where = self.store.step_folder(done)
                    name = signal.Signals(signum).name
                    raise Interrupted(
                        signum, done, f"{name} at step {done}: saved {where}; continue with train.resume=true"
                    )


def _to(windows: Any, device: torch.device) -> Any:
    """Windows (or a pair of them, for a binocular task; or None) on ``device``."""
    if isinstance(windows, tuple):
        return tuple(w.to(device) for w in windows)
    return None if windows is None else windows.to(device)
