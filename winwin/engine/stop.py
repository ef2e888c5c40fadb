"""Stopping cleanly on a pre-emption notice: SIGTERM (what ``kill``, ``torchrun`` and most schedulers send
first) or SIGUSR1 (SLURM's ``--signal=USR1@90``) sets a flag; the training loop checks it between steps,
saves a checkpoint and stops, and ``train.resume=true`` continues exactly from there. The handlers are
installed only while training runs (and only from the main thread, where Python allows it)."""

from __future__ import annotations

import signal
import threading

import torch
import torch.distributed as dist

from .distributed import Dist

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopSignals:
    """``with StopSignals() as stop:`` ... ``stop.requested(d)`` between steps."""

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
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
        0 when none."""
        if not d.active:
            return self.signum
        flag = torch.tensor([self.signum], dtype=torch.int64)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=d.host_group)
        return int(flag.item())
