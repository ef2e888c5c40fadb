"""Stopping cleanly on a pre-emption notice: SIGTERM (what ``kill``, ``torchrun`` and most schedulers send
first) or SIGUSR1 (SLURM's ``--signal=USR1@90``) sets a flag; the training loop checks it between steps,
saves a checkpoint and stops, and ``train.resume=true`` continues exactly from there. The handlers are
installed only while training runs (and only from the main thread, where Python allows it). A time limit
(``train.time_limit_s``) stops the same way once it has passed, reported as ``TIME_LIMIT``."""

from __future__ import annotations

import signal
import threading
import time

import torch
import torch.distributed as dist

from .distributed import Dist

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
TIME_LIMIT = int(signal.SIGALRM)  # how a passed time limit reads: as if an alarm had been set (exit 128 + 14)


class StopSignals:
    """``with StopSignals(time_limit_s) as stop:`` ... ``stop.requested(d)`` between steps; the time limit
    (0: none) counts from entering the block."""

    def __init__(self, time_limit_s: float = 0.0) -> None:
        self.signum = 0
        self.time_limit_s = float(time_limit_s)
        self._deadline: float | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        self._deadline = time.monotonic() + self.time_limit_s if self.time_limit_s > 0 else None
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        self.signum = signum

    def requested(self, d: Dist) -> int:
        """The signal received by this process or, in distributed training, by any process (a collective:
        every process calls it after every step, through the host-side gloo group, so no GPU is waited for);
        ``TIME_LIMIT`` when the time limit has passed (and no signal came); 0 when none."""
        late = self._deadline is not None and time.monotonic() >= self._deadline
        local = self.signum or (TIME_LIMIT if late else 0)
        if not d.active:
            return local
        flag = torch.tensor([local], dtype=torch.int64)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=d.host_group)
        return int(flag.item())
