"""What fits in a time budget (``winwin reproduce --hours H``): a (row, seed) whose training is not expected
to end before the budget does is left for a later call, and shorter ones after it still run. For a job with
a wall-time limit, or a machine whose unsaved run folders do not survive the session: a run stopped midway
resumes only where its checkpoints are kept, while finished results (``OUT/results``) are always kept.

A run's expected time is its steps x its timed step (``timing``, taken once, perhaps on another machine) x
this machine's pace: the median pace of the kept runs trained on this CPU model (``recorded_pace`` over
``kept_results``), else one row's step timed again now, over its timed step, times ``MARGIN`` for what the
timed step leaves out (evaluations, test variants, the loader; a cold process's first steps are slower
too); plus the table's pretraining when it has not run in this checkout yet (its recorded wall time). A run
stopped midway counts only the steps after its newest checkpoint. Once a whole run has trained in the call,
its own time over its timed steps replaces that pace (``reproduce``).

``--fill``: when what is left of the budget fits no remaining run, one of them (``to_fill``) trains until
the budget ends and stops with a checkpoint; the next call in the same folder resumes it, and then it fits."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .runner import Budget, pretrain_seconds, row_config, run_dir, steps_done
from .tables import Row, Table
from .timing import step_seconds

MARGIN = 1.25  # a run's wall time over its steps x step compute (1.22 measured: 2 windows, seed 0, a Xeon)
UNKNOWN_PRETRAIN = 2.0  # a pretraining never timed: counted as this many times the row's own training


def pace(table: Table, row: Row, budget: Budget, out: Path, device: str, step_s: dict[str, float]) -> float:
    """How many times its timed step a run takes on this machine now: ``row``'s step timed again (its
    compute, as ``timing`` records it) over the recorded one, times ``MARGIN``."""
    cfg = row_config(table, row, 0, budget, run_dir(out, row, 0, budget, table), device)
    return MARGIN * step_seconds(cfg)[1] / step_s[row.name]


def recorded_pace(
    results: Iterable[dict], step_s: dict[str, float], cpu: str, threads: int | None = None
) -> tuple[float, int] | None:
    """(median pace, number of runs) of the kept results trained on ``cpu`` (not on a GPU; with ``threads``
    threads when given: runs side by side take fewer each, and each is slower): a run's time in the call that
    trained it (training, evaluations, test variants) over its steps x its timed step. Only runs trained
    (nearly) whole in one call count: a result made from another row's finished run, or a run resumed past a
    tenth of its steps (``start_step``; its evaluations can hide that in the wall time), took less. None
    without any."""
    paces = [
        r["session_s"] / (r["steps"] * step_s[r["row"]])
        for r in results
        if r.get("machine", {}).get("cpu") == cpu and not r["machine"].get("gpu") and r["row"] in step_s
        and r.get("session_s", 0) >= 0.9 * r.get("train_wall_s", float("inf"))
        and r.get("start_step", 0) <= 0.1 * r["steps"]
        and threads in (None, r["machine"].get("threads"))
    ]  # fmt: skip
    return (statistics.median(paces), len(paces)) if paces else None


def kept_results(out: Path) -> list[dict]:
    """Every result kept under ``OUT/results``, of any row or budget: a run trained under one row's name
    and reached by another row through ``cached_result`` counts once, by the name it was trained under."""
    return [json.loads(p.read_text()) for p in sorted((out / "results").glob("*/s*/result-*.json"))]


def expected_seconds(
    table: Table, row: Row, seed: int, budget: Budget, out: Path, device: str, step_s: dict[str, float], ratio: float
) -> float | None:
    """Seconds (row, seed) is expected to take from now: 0 when its training is done in this checkout (its
    variants are evaluated in minutes), None when its step was never timed (off the CPU)."""
    folder = run_dir(out, row, seed, budget, table)
    if (folder / "eval.json").is_file():
        return 0.0
    if row.name not in step_s:
        return None
    steps = max(0, budget.schedule(table, row)[0] - steps_done(folder))
    train_s = steps * step_s[row.name] * ratio
    before = pretrain_seconds(table, budget, out, device)
    return train_s + (UNKNOWN_PRETRAIN * train_s if before is None else before)


def too_long(
    table: Table,
    row: Row,
    seed: int,
    budget: Budget,
    out: Path,
    device: str,
    step_s: dict[str, float],
    ratio: float,
    deadline: float | None,
) -> str | None:
    """Why (row, seed) must wait for a later call (it is expected to end after ``deadline``, a
    ``time.monotonic()`` time), or None when it fits, cannot be estimated, or there is no deadline."""
    if deadline is None:
        return None
    need = expected_seconds(table, row, seed, budget, out, device, step_s, ratio)
    left = deadline - time.monotonic()
    return None if need is None or need <= left else f"about {need / 60:.0f} min expected, {left / 60:.0f} min left"


def longest_first(pairs: list[tuple], need: Callable[[tuple], float | None]) -> list[tuple]:
    """``pairs`` (table, row, seed) seed after seed, the longest expected run (``need``, seconds) first within
    a seed, ties in their order: under a time budget a long run fits only in a session that starts with it
    (on a fast enough machine), while short ones fill what is left. Runs never timed (None) go last."""
    return sorted(pairs, key=lambda p: (p[2], -(need(p) or 0.0)))


def to_fill(waiting: list[tuple], budget: Budget, out: Path, device: str) -> tuple | None:
    """Of the (table, row, seed) runs left for a later call, the one to train until the budget ends
    (``--fill``): one already started first (it ends sooner), else the first in ``waiting``'s order (the
    longest of the first seed: ``longest_first``). Runs whose table still needs its pretraining are passed
    over (the time limit stops a row's training, not a pretraining); None when none is left."""
    ready = [p for p in waiting if pretrain_seconds(p[0], budget, out, device) == 0.0]
    started = [p for p in ready if steps_done(run_dir(out, p[1], p[2], budget, p[0])) > 0]
    return next(iter(started or ready), None)
