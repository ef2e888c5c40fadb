"""The training steps of one process: a step (windows drawn, forward, loss, backward, AdamW), the
scalars it logs, checkpoints, evaluations during training and stopping on a pre-emption notice.

Every random draw of step ``s`` comes from generators derived from (seed, s, rank) (``stream``), so the
loop keeps no random state between steps; what it keeps (the loss average) is saved with each checkpoint."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
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
from .step import Batch
from .stop import TIME_LIMIT, StopSignals
from .stream import StepBatch, seed_step
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


class Meter:
    """Sums over the steps since the last record, kept on the device: the loss, the gradient norm and the
    count of steps where either was not finite. Reading them (``read``) is the step loop's only host
    synchronisation, every ``log_every`` steps (and before a checkpoint)."""

    def __init__(self, saved: dict | None = None, device: torch.device | str = "cpu") -> None:
        saved = saved or {}
        sums = saved.get("sums")
        self.sums = None if sums is None else torch.tensor(sums, dtype=torch.float64, device=device)  # (3,)
        self.steps = int(saved.get("steps", 0))

    def add(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        bad = ~(torch.isfinite(loss) & torch.isfinite(grad_norm))
        row = torch.stack((loss.detach().double(), grad_norm.detach().double(), bad.double()))  # (3,)
        self.sums = row if self.sums is None else self.sums + row
        self.steps += 1

    def read(self) -> tuple[float, float, int]:
        """(mean loss, mean gradient norm, non-finite steps) since the last read; starts a new interval."""
        loss, grad, bad = self.sums.tolist() if self.sums is not None else (math.nan, math.nan, 0)
        n = max(self.steps, 1)
        self.sums, self.steps = None, 0
        return loss / n, grad / n, int(bad)

    def nonfinite(self) -> int:
        return 0 if self.sums is None else int(self.sums[2])

    def state(self) -> dict:
        return {"sums": None if self.sums is None else self.sums.tolist(), "steps": self.steps}


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
    meter: Meter
    loss_fn: Callable[[Batch, Any], torch.Tensor]  # ``step.loss_function``: eager or compiled

    def step(self, step: int, item: StepBatch) -> float:
        """One optimisation step on a prepared batch; returns the learning rate. No host synchronisation:
        the loss and gradient norm stay on the device, in ``meter``."""
        t, o, d = self.cfg.train, self.cfg.optim, self.d
        seed_step(t.seed, step, d.rank)
        batch, windows = item.to(self.device)
        lr = lr_at(step, t.steps, o.lr, o.warmup_steps, o.min_lr)
        set_lr(self.optimizer, lr)
        with autocast(self.device.type, t.precision == "bf16"):
            loss = self.loss_fn(batch, windows)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DDP, gradients are averaged over the processes here
        grad_norm = clip_gradients(self.model, o.clip_grad)  # of the averaged gradients: equal on every process
        self.optimizer.step()
        self.meter.add(loss, grad_norm)
        return lr

    def check_finite(self, done: int) -> None:
        bad = self.meter.nonfinite()
        if bad:
            raise FloatingPointError(
                f"the loss or the gradient norm was not finite in {bad} of the steps before step {done}; "
                "lower optim.lr or check the data (the weights after those steps are not saved)"
            )

    def save(self, done: int) -> None:
        """A checkpoint after ``done`` steps (every process takes part: the weights are compared)."""
        self.check_finite(done)
        prints = same_weights_everywhere(self.model, self.d)
        if self.d.main:
            t = self.cfg.train
            extra = {"run": str(self.run_dir), "rank_fingerprints": prints}
            state = {"step": done, "meter": self.meter.state(), "world_size": self.d.world, "seed": t.seed}
            self.store.save(done, self.model, self.optimizer, self.task, extra, {**state, "stream": STREAM})

    def evaluate(self, progress: bool = False) -> dict | None:
        t = self.cfg.train
        bf16 = t.precision == "bf16"
        return evaluate_processes(
            self.task, self.model, self.val_set, self.device, self.d, t.eval_batch_size, bf16, progress
        )

    def record(self, done: int, lr: float, seen: int, elapsed: float, log: RunLog) -> dict:
        """Read the meter (a host sync), average over processes, write the record."""
        loss, grad_norm, bad = self.meter.read()
        if bad:
            raise FloatingPointError(
                f"the loss or the gradient norm was not finite in {bad} of the steps up to step {done}; "
                "lower optim.lr or check the data"
            )
        means = mean_over_processes({"loss": loss, "grad_norm": grad_norm}, self.d, self.device)
        record = {**means, "lr": lr, "images_per_s": seen / elapsed}
        log.record(done, record)
        return record

    def run(self, batches, start: int, log: RunLog, progress: bool) -> None:
        """Steps ``start`` to the end, logging, saving and evaluating as the config says; on SIGTERM or
        SIGUSR1, or once ``train.time_limit_s`` has passed, saves and raises ``Interrupted``."""
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
        with StopSignals(t.time_limit_s) as stop, bar:
            for step in bar:
                item = next(batches)
                if item.step != step:
                    raise RuntimeError(f"the loader gave the batch of step {item.step} at step {step}")
                lr = self.step(step, item)
                seen += t.batch_size
                done = step + 1
                if done % t.log_every == 0 or done == t.steps:
                    r = self.record(done, lr, seen, time.perf_counter() - tic, log)
                    bar.set_postfix(loss=f"{r['loss']:.3f}", img_s=f"{r['images_per_s']:.1f}", lr=f"{lr:.2e}")
                    tic, seen = time.perf_counter(), 0
                if done % t.ckpt_every == 0 or done == t.steps:
                    self.save(done)
                if t.eval_every and done % t.eval_every == 0 and done != t.steps:
                    metrics = self.evaluate()
                    if metrics is not None:
                        log.record(done, {f"val_{primary}": metrics[primary], "val_loss": metrics["loss"]})
                signum = stop.requested(d)  # a pre-emption notice: save, then stop
                if signum and done < t.steps:
                    if done % t.ckpt_every:
                        self.save(done)
                    where = self.store.step_folder(done)
                    timed_out = signum == TIME_LIMIT
                    why = f"train.time_limit_s={t.time_limit_s:g}" if timed_out else signal.Signals(signum).name
                    raise Interrupted(
                        signum, done, f"{why} at step {done}: saved {where}; continue with train.resume=true"
                    )
