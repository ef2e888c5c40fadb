"""Where a reproduction's runs train: in this process, one after another (``InOrder``), or ``jobs`` at a time
in spawned processes with an equal share of the cores each (``SideBySide``, ``winwin reproduce --jobs N``).

Side by side pays where one run does not keep its cores busy: on the 2-core EPYC, two runs of one thread each
trained 1.24x to 1.41x (flow demo) and 1.16x to 1.45x (segmentation demo) the images per second of one run with
both threads, in two measurements (docs/results.md, ``experiments/jobs_throughput.sh``): the small models scale
poorly over threads, and each run prepares its batches in its own single thread. A run's result is the
runner's own (``run_row``), written where a call without ``--jobs`` would write it; only its wall time differs.
A pre-emption notice (SIGTERM, SIGUSR1) sent to this process is passed on to the runs, which save a checkpoint
and stop, as one run alone does."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from ..engine.stop import SIGNALS
from ..engine.threads import available_cores
from ..errors import Interrupted
from .runner import Budget, run_row
from .tables import Row, Table

RECHECK_S = 60.0  # s between looks at the queue while runs go on


def threads_per_job(jobs: int) -> int:
    """The threads of each of ``jobs`` runs side by side: an equal share of this process's cores."""
    return max(1, available_cores() // jobs)


class InOrder:
    """One run at a time, here: ``submit`` trains it with ``train(table, row, seed, time_limit_s)`` before
    returning (its future already done)."""

    jobs, signum = 1, 0

    def __init__(self, train: Callable[[Table, Row, int, float], dict]) -> None:
        self._train = train

    def __enter__(self) -> InOrder:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, table: Table, row: Row, seed: int, time_limit_s: float = 0.0) -> Future:
        future: Future = Future()
        try:
            future.set_result(self._train(table, row, seed, time_limit_s))
        except Exception as e:  # Interrupted included: the caller reads it from the future
            future.set_exception(e)
        return future

    def wait(self, futures) -> set[Future]:
        return {f for f in futures if f.done()}


def say_line(text: str) -> None:
    """Print ``text`` as one line in one write. ``print`` writes the text and the newline apart, so under
    ``--jobs`` a line of one process could be split by another's on the shared log; every line a reproduction
    prints, the main process's and each worker's, goes through here."""
    print(text + "\n", end="", flush=True)


def _claim(threads: int) -> None:
    """A worker's start: its runs take ``threads`` threads (``engine.threads`` uses ``OMP_NUM_THREADS`` as given)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)


def _train(table: Table, row: Row, seed: int, budget: Budget, out: Path, device: str, time_limit_s: float) -> dict:
    """In a worker: ``run_row`` with its lines marked by the run. What stopped it comes back as plain values
    (an exception whose arguments do not pickle would break the pool); ``outcome`` raises it again here."""

    def say(text: str) -> None:
        say_line(f"[{row.name}, seed {seed}] {text}")

    try:
        return run_row(table, row, seed, budget, out, device, say, time_limit_s)
    except Interrupted as e:
        return {"stopped": [e.signum, e.step, str(e)]}
    except Exception as e:
        return {"failed": f"{type(e).__name__}: {e}"}


class SideBySide:
    """Up to ``jobs`` runs at once, one spawned process each (plain processes, not daemonic: a run's data
    loader may start workers of its own), each with ``threads_per_job(jobs)`` threads."""

    def __init__(self, jobs: int, budget: Budget, out: Path, device: str) -> None:
        self.jobs, self.signum, self._run = jobs, 0, (budget, out, device)
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SideBySide:
        threads = threads_per_job(self.jobs)
        ctx = mp.get_context("spawn")  # no fork of a process that holds torch's threads
        self._pool = ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=_claim, initargs=(threads,))
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._forward) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _forward(self, signum: int, frame) -> None:
        self.signum = signum
        for child in mp.active_children():
            os.kill(child.pid, signum)  # its training saves a checkpoint and stops (engine.stop)

    def submit(self, table: Table, row: Row, seed: int, time_limit_s: float = 0.0) -> Future:
        return self._pool.submit(_train, table, row, seed, *self._run, time_limit_s)

    def wait(self, futures) -> set[Future]:
        """The runs that ended; none after ``RECHECK_S`` (a run waiting for a pretraining may start then)."""
        return wait(futures, timeout=RECHECK_S, return_when=FIRST_COMPLETED).done


class RunFailed(RuntimeError):
    """A run failed in a worker: the message names the original error (its type, then its text)."""


def outcome(future: Future) -> dict:
    """The result of a finished run; raises what stopped it (``Interrupted`` for a signal, ``RunFailed`` for
    an error in a worker, else the error itself)."""
    result = future.result()
    if "stopped" in result:
        signum, step, message = result["stopped"]
        raise Interrupted(signum, step, message)
    if "failed" in result:
        raise RunFailed(result["failed"])
    return result


def describe(error: Exception) -> str:
    """``Type: message`` of a run's error (a worker's as it was raised there)."""
    return str(error) if isinstance(error, RunFailed) else f"{type(error).__name__}: {error}"
