"""The reproduction's order of work: seed after seed (every row of seed 0 first, so partial results already
cover every row; under ``--hours`` the longest run first within a seed, ``schedule.longest_first``), each
(row, seed) trained once (``runner.run_row``), the report rewritten after each."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from ..engine.stop import TIME_LIMIT
from ..errors import Interrupted
from .catalog import TABLES
from .machine import cpu_name, machine_of
from .report import write_report
from .runner import QUICK, Budget, cached_result, missing_variants, row_config, run_dir, run_row
from .schedule import expected_seconds, kept_results, longest_first, pace, recorded_pace, steps_done, to_fill, too_long
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
    say=print,
    report_only: bool = False,
    hours: float | None = None,
    fill: bool = False,
) -> Path:
    """Run what is missing and write the report; returns the report's path. ``report_only``: write it from
    the finished (row, seed) pairs alone, training and timing nothing (while another process trains).
    ``hours``: start only the runs expected to end within that many hours from now (``schedule``); ``fill``:
    then train one of the others until the hours are up, stopped with a checkpoint (``schedule.to_fill``)."""
    check_time_budget(hours, fill)
    deadline = None if hours is None else time.monotonic() + hours * 3600
    info = machine_of(out, device, report_only, _command())
    command = info.get("command", _command()) if report_only else _command()
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
    todo = [(t, r, s) for t, r, s in pairs if (d := results.get((r.name, s))) is None or missing_variants(d, r)]
    failed, waiting, ratio = [], [], 1.0
    if deadline is not None and todo and not report_only:
        table, row, _ = todo[0]
        if (known := recorded_pace(kept_results(out), step_s, cpu_name())) is not None:
            ratio = known[0]
            say(f"reproduce: {known[1]} kept runs trained on this CPU at {ratio:.2f}x their timed steps (median)")
        else:
            ratio = pace(table, row, budget, out, device, step_s) if row.name in step_s else 1.0
            say(f"reproduce: this machine trains at {ratio:.2f}x the timed steps (--hours estimates)")
        pairs = longest_first(pairs, lambda p: expected_seconds(*p, budget, out, device, step_s, ratio))
    for table, row, seed in [] if report_only else pairs:
        done = results.get((row.name, seed))
        pending = done is None or missing_variants(done, row)
        wait = too_long(table, row, seed, budget, out, device, step_s, ratio, deadline) if pending else None
        if wait is not None:
            if all((r.name, s) != (row.name, seed) for _, r, s in waiting):  # a row in two tables: said once
                say(f"reproduce: {row.name}, seed {seed} left for later: {wait}")
            waiting.append((table, row, seed))
            continue
        try:
            results[row.name, seed] = run_row(table, row, seed, budget, out, device, say)
            # a run trained whole in this call: its own pace replaces the estimate
            trained = done is None and deadline is not None
            if trained and (seen := recorded_pace([results[row.name, seed]], step_s, cpu_name())):
                ratio = seen[0]
                say(f"reproduce: that run took {ratio:.2f}x its timed steps: the next estimates use it")
        except Interrupted:
            raise  # a pre-emption notice: the run saved a checkpoint, the next call resumes it
        except Exception as e:  # one broken row must not stop hours of unattended runs: it is said, then raised
            failed.append(f"{row.name}, seed {seed} ({type(e).__name__}: {e})")
            say(f"reproduce: {failed[-1]} FAILED; the other rows go on")
            continue
        report = write()
    if fill and waiting and not report_only and (filled := _fill(waiting, deadline, budget, out, device, say)):
        pick, results[pick[1].name, pick[2]] = filled
        waiting.remove(pick)
        report = write()
    left = len({(row.name, seed) for _, row, seed in waiting})
    later = f" ({left} runs left for a later call: --hours)" if waiting else ""
    say(f"reproduce: report -> {report}{later}")
    if failed:
        raise ReproductionFailed(f"reproduce: {len(failed)} run(s) failed: " + "; ".join(failed))
    return report


FILL_RESERVE_S = 120.0  # of the budget, kept for the setup before the first step and for the report after
MIN_FILL_S = 300.0  # less than this left: no run is started to fill it


def _fill(waiting: list[tuple], deadline: float, budget: Budget, out: Path, device: str, say) -> tuple | None:
    """Train one of the ``waiting`` (table, row, seed) runs (``schedule.to_fill``) until ``deadline``
    (``--fill``): (that run, its result) if it ended in time; None when it stopped with a checkpoint for the
    next call to resume, or when too little time or no run was left."""
    seconds = deadline - time.monotonic() - FILL_RESERVE_S
    pick = to_fill(waiting, budget, out, device) if seconds >= MIN_FILL_S else None
    if pick is None:
        return None
    table, row, seed = pick
    say(f"reproduce: {row.name}, seed {seed}: trained for the {seconds / 60:.0f} min left, then stopped (--fill)")
    try:
        return pick, run_row(table, row, seed, budget, out, device, say, time_limit_s=seconds)
    except Interrupted as e:
        if e.signum != TIME_LIMIT:
            raise
        say(f"reproduce: {row.name}, seed {seed} stopped at step {e.step} with a checkpoint: the next call resumes it")
        return None


def _command() -> str:
    return "winwin " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("winwin") else "winwin reproduce"


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
    )
