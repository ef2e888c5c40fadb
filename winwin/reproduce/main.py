"""The reproduction's order of work: seed after seed (every row of seed 0 first, so partial results already
cover every row; under ``--hours`` the longest run first within a seed, ``schedule.longest_first``), each
(row, seed) trained once (``runner.run_row``), the report rewritten after each."""

from __future__ import annotations

import sys
import time
from concurrent.futures import Future
from pathlib import Path

import torch

from ..engine.stop import TIME_LIMIT
from ..errors import Interrupted
from .catalog import TABLES
from .machine import cpu_name, machine_of
from .parallel import InOrder, SideBySide, describe, outcome, say_line, threads_per_job
from .report import write_report
from .runner import (
    QUICK,
    Budget,
    cached_result,
    missing_variants,
    pretraining_to_do,
    row_config,
    run_dir,
    run_row,
    steps_done,
)
from .schedule import expected_seconds, kept_results, longest_first, pace, recorded_pace, to_fill, too_long
from .tables import Table
from .timing import timed_on, timed_rows


class ReproductionFailed(RuntimeError):
    """Some (row, seed) runs failed; the others ran and are in the report."""


def reproduce(
    tables: list[Table],
    seeds: list[int],
    budget: Budget,
    out: Path,
    device: str = "cpu",
    say=say_line,
    report_only: bool = False,
    hours: float | None = None,
    fill: bool = False,
    jobs: int = 1,
) -> Path:
    """Run what is missing and write the report; returns the report's path. ``report_only``: write it from
    the finished (row, seed) pairs alone, training and timing nothing (while another process trains).
    ``hours``: start only the runs expected to end within that many hours from now (``schedule``); ``fill``:
    then, in each slot left free, train one of the others until the hours are up, stopped with a checkpoint
    (``schedule.to_fill``).
    ``jobs``: train that many runs at once, side by side (``parallel``); never two that share a folder."""
    check_time_budget(hours, fill)
    if jobs < 1:
        raise ValueError(f"--jobs must be a positive number of runs at once, got {jobs}")
    deadline = None if hours is None else time.monotonic() + hours * 3600
    info = machine_of(out, device, report_only, _command())
    # the report's command makes all it shows; a report-only call's machine.json names the last call that trained
    command = _command(drop="--report-only")
    # every table's rows, not only these: timing.json is one set measured at one time, so a call for some tables
    # that finds a row untimed must not replace the others' timings with its own subset
    step_s = step_times(list(TABLES.values()), budget, out, device, say, measure=not report_only)
    info = {**info, "steps_timed_on": timed_on(out)}
    pairs = [(t, row, seed) for seed in seeds for t in tables if seed in t.seeds_of(seeds) for row in t.rows]
    results: dict[tuple[str, int], dict] = {}  # (row, seed) -> result; rows of the same name share one

    def write() -> Path:
        finished = [{**r, "step_s": step_s.get(r["row"])} for r in results.values()]
        return write_report(out, [t.as_dict() for t in tables], _by_table(tables, finished), info, command)

    for table, row, seed in pairs:  # what is finished already: in the report from the start
        if (result := cached_result(table, row, seed, budget, out)) is not None:
            results[row.name, seed] = result
    report = write() if results or report_only else out / "REPRODUCTION.md"
    runs, seconds = training_left(tables, seeds, budget, out, step_s)
    if runs and not report_only:
        say(f"reproduce: {runs} training runs to go, about {seconds / 3600:.1f} h of training (timed steps)")
    todo = [p for p in pairs if _pending(results, p)]
    failed, waiting, ratio, cpu = [], [], 1.0, cpu_name()
    if deadline is not None and todo and not report_only:
        table, row, _ = todo[0]
        if (known := _pace_of_kept(out, step_s, cpu, jobs)) is not None:
            ratio = known[0]
            say(f"reproduce: {known[1]} kept runs trained on this CPU at {ratio:.2f}x their timed steps ({known[2]})")
        else:  # side by side counted as if running them together gained nothing, until one of them ends
            ratio = jobs * pace(table, row, budget, out, device, step_s) if row.name in step_s else float(jobs)
            say(f"reproduce: this machine trains at {ratio:.2f}x the timed steps (--hours estimates)")
        pairs = longest_first(pairs, lambda p: expected_seconds(*p, budget, out, device, step_s, ratio))
    queue = [] if report_only else list(pairs)
    in_order = InOrder(lambda table, row, seed, limit: run_row(table, row, seed, budget, out, device, say, limit))
    slots = SideBySide(jobs, budget, out, device) if jobs > 1 and queue else in_order
    running: dict[Future, tuple] = {}  # -> (table, row, seed, whether it had a result, whether it fills)
    stopped: Interrupted | None = None
    time_up, filled = False, set()  # a run filling the budget stopped at its end: no other one starts
    with slots:
        while True:
            while stopped is None and not slots.signum and len(running) < slots.jobs:
                busy = set().union(*(_holds(job[:3], budget, out, device) for job in running.values()))
                pick = next((p for p in queue if not _holds(p, budget, out, device) & busy), None)
                if pick is None:
                    break  # every queued run needs a folder that a running one is using
                queue.remove(pick)
                table, row, seed = pick
                pending = _pending(results, pick)
                wait = too_long(table, row, seed, budget, out, device, step_s, ratio, deadline) if pending else None
                if wait is not None:
                    if all((r.name, s) != (row.name, seed) for _, r, s in waiting):  # a row in two tables: said once
                        say(f"reproduce: {row.name}, seed {seed} left for later: {wait}")
                    waiting.append(pick)
                    continue
                running[slots.submit(table, row, seed)] = (table, row, seed, (row.name, seed) in results, False)
            filling = fill and not queue and not time_up and stopped is None and not slots.signum
            while filling and len(running) < slots.jobs:
                if (filler := _filler(waiting, running, filled, deadline, budget, out, device)) is None:
                    break
                (table, row, seed), seconds = filler
                filled.add((row.name, seed))  # once per call, whether it ends, fails or stops
                say(f"reproduce: {row.name}, seed {seed}: trained for the {seconds / 60:.0f} min left, then stopped")
                running[slots.submit(table, row, seed, seconds)] = (table, row, seed, (row.name, seed) in results, True)
            if not running:
                break
            for future in slots.wait(list(running)):
                table, row, seed, had, fills = running.pop(future)
                try:
                    results[row.name, seed] = outcome(future)
                except Interrupted as e:  # a pre-emption notice: the run saved a checkpoint, the next call resumes it
                    if fills and e.signum == TIME_LIMIT:  # --fill: the budget's end; no other run starts
                        time_up, resumes = True, "with a checkpoint: the next call resumes it"
                        say(f"reproduce: {row.name}, seed {seed} stopped at step {e.step} {resumes}")
                    else:
                        stopped = stopped or e
                    continue
                except Exception as e:  # one broken row must not stop hours of unattended runs: said, then raised
                    failed.append(f"{row.name}, seed {seed} ({describe(e)})")
                    say(f"reproduce: {failed[-1]} FAILED; the other rows go on")
                    continue
                # a run trained whole in this call (beside the others, if any): its own pace replaces the estimate
                if not had and deadline is not None and (seen := recorded_pace([results[row.name, seed]], step_s, cpu)):
                    ratio = seen[0]
                    say(f"reproduce: that run took {ratio:.2f}x its timed steps: the next estimates use it")
                waiting = [p for p in waiting if _pending(results, p)]  # a filling run that ended in time
                report = write()
            if stopped is not None and not running:
                raise stopped
            if slots.signum and not running:
                raise Interrupted(slots.signum, 0, f"signal {slots.signum}: the runs stopped with a checkpoint")
    left = len({(row.name, seed) for _, row, seed in waiting})
    later = f" ({left} runs left for a later call: --hours)" if waiting else ""
    say(f"reproduce: report -> {report}{later}")
    if failed:
        raise ReproductionFailed(f"reproduce: {len(failed)} run(s) failed: " + "; ".join(failed))
    return report


FILL_RESERVE_S = 120.0  # of the budget, kept for the setup before the first step and for the report after
MIN_FILL_S = 300.0  # less than this left: no run is started to fill it


def _filler(
    waiting: list[tuple], running: dict, filled: set, deadline: float, budget: Budget, out: Path, device: str
) -> tuple[tuple, float] | None:
    """(the (table, row, seed) run to train until ``deadline``, its seconds) for a free slot (``--fill``): one
    of the ``waiting`` runs, not ``filled`` yet in this call (by row name and seed), that no running one shares
    a folder with (``schedule.to_fill``); None when too little time or no such run is left. A filling run
    that ends in time frees its slot for the next one."""
    seconds = deadline - time.monotonic() - FILL_RESERVE_S
    if seconds < MIN_FILL_S:
        return None
    busy = set().union(*(_holds(job[:3], budget, out, device) for job in running.values()))
    free = [p for p in waiting if (p[1].name, p[2]) not in filled and not _holds(p, budget, out, device) & busy]
    pick = to_fill(free, budget, out, device)
    return None if pick is None else (pick, seconds)


def _pending(results: dict, pair: tuple) -> bool:
    """Whether the (table, row, seed) run still lacks its result or some of its row's test variants."""
    _, row, seed = pair
    return (done := results.get((row.name, seed))) is None or bool(missing_variants(done, row))


def _holds(pair: tuple, budget: Budget, out: Path, device: str) -> set[Path]:
    """The folders a (table, row, seed) run writes and no other run may write at the same time: its run (two
    tables' rows may share one) and its table's pretraining while that is not done."""
    table, row, seed = pair
    pretraining = pretraining_to_do(table, budget, out, device)
    return {run_dir(out, row, seed, budget, table)} | ({pretraining} if pretraining else set())


def _pace_of_kept(out: Path, step_s: dict[str, float], cpu: str, jobs: int) -> tuple[float, int, str] | None:
    """(pace, runs, how it was found) of the kept runs on this CPU that trained with the threads each of
    ``jobs`` runs gets; without any, of all of them, times ``jobs`` when side by side (as if running them
    together gained nothing: the first run that ends here replaces it)."""
    kept = kept_results(out)
    if (same := recorded_pace(kept, step_s, cpu, threads_per_job(jobs))) is not None:
        return (*same, f"median, {threads_per_job(jobs)} threads each")
    if (any_threads := recorded_pace(kept, step_s, cpu)) is None:
        return None
    return any_threads[0] * jobs, any_threads[1], f"median, any threads{f'; x{jobs} side by side' if jobs > 1 else ''}"


def _command(drop: str = "") -> str:
    """This call's command line (``drop``: a flag left out of it)."""
    if not (sys.argv and sys.argv[0].endswith("winwin")):
        return "winwin reproduce"
    return " ".join(["winwin", *(a for a in sys.argv[1:] if a != drop)])


def step_times(
    tables: list[Table], budget: Budget, out: Path, device: str, say=print, measure: bool = True
) -> dict[str, float]:
    """Seconds per training step of every row, by name, timed back to back (``timing``); none off the CPU.
    ``measure=False``: only what ``OUT/timing.json`` already holds."""
    if torch.device(device).type != "cpu":
        return {}
    configs, names = {}, {}
    for table in tables:
        for row in table.rows:
            key = budget.step_key(row, table)  # a step costs the same however many steps the run takes
            configs[key] = row_config(table, row, 0, budget, run_dir(out, row, 0, budget, table), device)
            names[row.name] = key
    seconds = timed_rows(configs, out, say, measure)
    return {name: seconds[key] for name, key in names.items() if key in seconds}


def training_left(
    tables: list[Table], seeds: list[int], budget: Budget, out: Path, step_s: dict[str, float]
) -> tuple[int, float]:
    """(training runs to do, their steps x timed step time in s): runs whose row has no result and that have
    not finished training here (a row shared with a finished one only needs its variants); a started run
    counts the steps after its newest checkpoint; a run shared by two rows counts once."""
    left: dict[Path, float] = {}
    for seed in seeds:
        for table in [t for t in tables if seed in t.seeds_of(seeds)]:
            for row in table.rows:
                folder = run_dir(out, row, seed, budget, table)
                if cached_result(table, row, seed, budget, out) is None and not (folder / "eval.json").is_file():
                    steps = budget.schedule(table, row)[0] - steps_done(folder)
                    left[folder] = max(0, steps) * step_s.get(row.name, 0.0)
    return len(left), sum(left.values())


def _by_table(tables: list[Table], results: list[dict]) -> list[dict]:
    """Each result once per table that has its row (a run shared by two tables appears in both)."""
    out = []
    for table in tables:
        names = {r.name for r in table.rows}
        out += [{**r, "table": table.key} for r in results if r["row"] in names]
    return out


def check_time_budget(hours: float | None, fill: bool) -> None:
    """``--hours`` must be a positive number; ``--fill`` needs it (it trains until the budget ends)."""
    if hours is not None and hours <= 0:
        raise ValueError(f"--hours must be a positive number of hours, got {hours}")
    if fill and hours is None:
        raise ValueError("--fill trains a run until the time budget ends: give it one with --hours")


def run_cli(args) -> None:
    unknown = [t for t in args.tables if t not in TABLES]
    if unknown:
        raise SystemExit(f"error: unknown table(s) {unknown}; known: {', '.join(TABLES)}")
    try:
        check_time_budget(args.hours, args.fill)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if args.jobs < 1:
        raise SystemExit(f"error: --jobs must be a positive number of runs at once, got {args.jobs}")
    budget = QUICK if args.quick else Budget(steps=args.steps, eval_every=args.eval_every)
    seeds = args.seeds if args.seeds else ([0] if args.quick else [0, 1, 2])
    reproduce(
        [TABLES[t] for t in args.tables],
        seeds,
        budget,
        Path(args.out),
        args.device,
        report_only=args.report_only,
        hours=args.hours,
        fill=args.fill,
        jobs=args.jobs,
    )
