"""The reproduction report's pictures: one per table, its rows' validation curves (the table's metric at full
resolution, temperature 1) against training steps and against training wall time, the mean over seeds as a
line and the seeds' range as a band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..files import save_figure


def sorted_curve(run: dict) -> list[dict]:
    """The run's curve points ``{"step", "wall_s", "value"}`` in step order (empty when it has none)."""
    return sorted(run.get("curve") or [], key=lambda p: p["step"])


def timed_curve(run: dict) -> list[dict]:
    """``sorted_curve`` with ``wall_s`` = step x the run's timed step time (``step_s``) when it has one."""
    step_s = run.get("step_s")
    return [{**p, "wall_s": p["step"] * step_s} if step_s else p for p in sorted_curve(run)]


def mean_curve(runs: list[dict], scale: float = 1.0) -> dict | None:
    """The seeds' curves on common steps (the densest curve's steps that every curve covers, the others
    interpolated there): ``steps``, mean ``wall_s``, and the scaled ``mean``, ``low`` and ``high`` values.
    ``None`` when no run has a curve."""
    curves = [c for c in (timed_curve(r) for r in runs) if c]
    if not curves:
        return None
    start, end = max(c[0]["step"] for c in curves), min(c[-1]["step"] for c in curves)
    densest = max(curves, key=len)
    steps = np.array([p["step"] for p in densest if start <= p["step"] <= end], dtype=float)
    if steps.size == 0:
        steps = np.array([end], dtype=float)

    def on_steps(curve: list[dict], key: str) -> np.ndarray:
        return np.interp(steps, [p["step"] for p in curve], [p[key] for p in curve])

    values = np.stack([on_steps(c, "value") for c in curves]) * scale
    walls = np.stack([on_steps(c, "wall_s") for c in curves])
    return {
        "steps": steps,
        "wall_s": walls.mean(0),
        "mean": values.mean(0),
        "low": values.min(0),
        "high": values.max(0),
        "seeds": len(curves),
    }


def _plot_row(axes, name: str, curve: dict, colour) -> None:
    """One row's mean line (and seeds' band) on the step axis and the wall-time axis."""
    for ax, x in zip(axes, (curve["steps"], curve["wall_s"] / 60)):
        ax.plot(x, curve["mean"], "-", color=colour, lw=1.5, label=f"{name} ({curve['seeds']} seeds)")
        if curve["seeds"] > 1:
            ax.fill_between(x, curve["low"], curve["high"], color=colour, alpha=0.2, lw=0)


def save_curves(path: Path, table: dict, rows: list[tuple[str, list[dict]]], reference_s: float | None) -> bool:
    """Draw ``table``'s learning curves for ``rows`` (row name, its runs) into ``path``; a dotted line marks
    the reference row's training time ``reference_s`` on the wall-time axis. False (nothing written) when no
    row has a curve."""
    curves = [(name, c) for name, runs in rows if (c := mean_curve(runs, table.get("scale", 1))) is not None]
    if not curves:
        return False
    fig = Figure(figsize=(11, 4.2), dpi=100)
    by_step, by_time = fig.subplots(1, 2, sharey=True)
    colours = [f"C{i % 10}" for i in range(len(curves))]
    for (name, curve), colour in zip(curves, colours):
        _plot_row((by_step, by_time), name, curve, colour)
    if reference_s:
        by_time.axvline(reference_s / 60, color="gray", ls=":", lw=1, label="reference row's training time")
    unit = table.get("unit", table.get("metric", ""))
    by_step.set_xlabel("training step")
    by_time.set_xlabel("training time (min): steps x the timed step time")
    by_step.set_ylabel(f"validation {unit} (full resolution)")
    for ax in (by_step, by_time):
        ax.grid(alpha=0.3)
    by_time.legend(fontsize=7, loc="best")
    direction = "higher" if table.get("higher_is_better", True) else "lower"
    fig.suptitle(f"{table.get('title', table['key'])} ({direction} is better)", fontsize=10)
    save_figure(fig, path)
    return True
