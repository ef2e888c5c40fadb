"""Train some (row, seed) runs of ``winwin reproduce`` side by side, one process each, on one device: for a
machine with a GPU (one small run leaves it idle most of the time) or many cores. Each process calls the
runner's ``run_row``, so a run lands where ``winwin reproduce --out OUT`` finds it (``OUT/results``, same
keys), and a later ``winwin reproduce --out OUT --report-only`` reports it. Threads: each process gets an
equal share of the cores (``OMP_NUM_THREADS``, unless set), fixed before they start: left to share them as
they start, seconds apart, the first ones claimed more before the later ones registered (2 to 16 threads
each on a 16-core GPU machine).

    PYTHONPATH=. python experiments/reproduce_rows.py --out reports --device cuda --table table2 \\
        --rows "Full-res. ViT" "Full-res. ViT-Det" --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
from pathlib import Path

from winwin.reproduce.catalog import TABLES
from winwin.reproduce.runner import QUICK, Budget, run_row


def _one(table_key: str, row_name: str, seed: int, out: str, device: str, quick: bool) -> None:
    table = TABLES[table_key]
    row = next(r for r in table.rows if r.name == row_name)

    def say(text: str) -> None:
        print(f"[{row_name}, seed {seed}] {text}", flush=True)

    result = run_row(table, row, seed, QUICK if quick else Budget(), Path(out), device, say)
    scores = {k: v for k, v in result["variants"]["full"].items() if isinstance(v, float)}
    say(f"done: {scores}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--table", required=True, choices=sorted(TABLES))
    p.add_argument("--rows", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="the test suite's tiny budget: checks that it runs")
    a = p.parse_args()
    names = [r.name for r in TABLES[a.table].rows]
    unknown = [r for r in a.rows if r not in names]
    if unknown:
        raise SystemExit(f"error: rows {unknown} are not in {a.table}; its rows: {names}")
    jobs = [(a.table, row, seed, a.out, a.device, a.quick) for row in a.rows for seed in a.seeds]
    share = max(1, (os.cpu_count() or 1) // len(jobs))
    os.environ.setdefault("OMP_NUM_THREADS", str(share))  # the spawned processes inherit it
    ctx = mp.get_context("spawn")  # plain processes, not a Pool: a run's data loader starts its own workers
    procs = [ctx.Process(target=_one, args=job) for job in jobs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    failed = [job[1:3] for job, proc in zip(jobs, procs) if proc.exitcode != 0]
    if failed:
        raise SystemExit(f"error: runs failed: {failed}")


if __name__ == "__main__":
    main()
