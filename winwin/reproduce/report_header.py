"""The report's header: what it is, the command, the machine, and how to read it."""

from __future__ import annotations

from collections import Counter

DASH = "—"


def _duration(seconds: float) -> str:
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _machine_line(machine: dict) -> str:
    parts = [
        f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores)",
        f"device {machine.get('device', '?')}",
        f"torch {machine.get('torch', '?')}",
    ]
    if machine.get("matmul_gflops") is not None:
        parts.append(f"matmul {machine['matmul_gflops']:.0f} GFLOP/s")
    return ", ".join(parts) + (f"; {machine['date']}" if machine.get("date") else "")


def header(tables: list[dict], results: list[dict], groups: dict, machine: dict, command: str) -> list[str]:
    """What the report is, how it was made, and how to read it."""
    seeds = sorted({len(runs) for runs in groups.values()})
    seed_text = DASH if not seeds else f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}"
    runs = {(r["row"], r["seed"]): r for r in results}  # a run shared by two tables counts once
    total = sum(r.get("train_wall_s") or 0 for r in runs.values())
    return [
        "# Reproduction at small scale",
        "",
        "The tables of *Win-Win: Training High-Resolution Vision Transformers from Two Windows* (ICLR 2024), "
        "trained at small scale on embedded data, several seeds per row.",
        "",
        f"- command: `{command}`",
        *_last_call(machine, command),
        f"- machine: {_machine_line(machine)}",
        *(
            [f"- training steps timed on (cost columns): {machine['steps_timed_on']}"]
            if machine.get("steps_timed_on")
            else []
        ),
        *_trained_on(list(runs.values())),
        f"- {_count(len(tables), 'table')}, {_count(len(groups), 'row')} with results, "
        f"{_count(len(runs), 'training run')}, total training wall time {_duration(total)}",
        "",
        f"How to read: ours are mean ± sample std over seeds (the number of seeds in brackets; {seed_text} per "
        "row). The paper's numbers are for its setting (datasets, models and resolutions in each table's "
        "header); ours are for the embedded data at small scale: compare orderings, not values.",
        "",
    ]


def _last_call(machine: dict, command: str) -> list[str]:
    """A line naming the last call that trained (kept in ``machine.json``), where the report's own differs."""
    last = machine.get("command")
    if not last or last == command:
        return []
    return [f"- trained by several calls (each keeps its finished runs, the next trains the rest), the last: `{last}`"]


def _place(machine: dict) -> str:
    if machine.get("gpu"):
        return f"{machine['gpu']} (GPU)"
    threads = machine.get("threads")
    return machine["cpu"] if threads is None else f"{machine['cpu']}, {_count(threads, 'thread')}"


def _trained_on(runs: list[dict]) -> list[str]:
    """A line naming the CPUs (with their threads per run: runs side by side take fewer each, and each takes
    longer) or the GPU the finished runs trained on, when that is more than one (a reproduction continued
    across machines: its times and step timings compare only within one machine)."""
    where = Counter(_place(m) for m in (r.get("machine") for r in runs) if isinstance(m, dict) and "cpu" in m)
    unknown = len(runs) - sum(where.values())
    if len(where) + (unknown > 0) < 2:
        return []
    parts = [f"{name} ({_count(n, 'run')})" for name, n in where.most_common()]
    parts += [f"not recorded ({_count(unknown, 'run')})"] if unknown else []
    return [f"- runs trained on: {', '.join(parts)}; the timed steps (cost columns) were all taken on one machine"]
