"""The report's figures besides the learning curves (``plots``): Appendix D's temperature curve (each row's
full-resolution loss and metric against the softmax temperature, from its tuned-temperature sweeps) and
Appendix A's accuracy against the test resolution (from the test-crop variants). Mean over seeds, with the
seeds' range as a band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..files import save_figure
from .tables import crop_size, crop_variant


def _band(ax, x, values: np.ndarray, label: str, colour: str) -> None:
    """values: (seeds, points) -> mean line and min..max band."""
    ax.plot(x, values.mean(0), "o-", color=colour, ms=3, lw=1.5, label=f"{label} ({len(values)} seeds)")
    if len(values) > 1:
        ax.fill_between(x, values.min(0), values.max(0), color=colour, alpha=0.2, lw=0)


def save_temperature(path: Path, table: dict, rows: list[tuple[str, list[dict]]], variant: str) -> bool:
    """Loss and metric against temperature for each row whose runs hold a sweep in ``variant``. False (nothing
    written) when none does."""
    metric, scale = table["metric"], table.get("scale", 1)
    series = []
    for name, runs in rows:
        sweeps = [r["variants"][variant]["sweep"] for r in runs if "sweep" in r.get("variants", {}).get(variant, {})]
        temps = sorted({p["temperature"] for s in sweeps for p in s})
        sweeps = [s for s in sweeps if sorted(p["temperature"] for p in s) == temps]  # one grid per row
        if sweeps:
            by_t = [{p["temperature"]: p for p in s} for s in sweeps]
            loss = np.array([[s[t]["loss"] for t in temps] for s in by_t])  # (seeds, temperatures)
            value = np.array([[s[t][metric] * scale for t in temps] for s in by_t])  # (seeds, temperatures)
            series.append((name, np.array(temps), loss, value))
    if not series:
        return False
    fig = Figure(figsize=(11, 4.2), dpi=100)
    by_loss, by_metric = fig.subplots(1, 2, sharex=True)
    for i, (name, temps, loss, value) in enumerate(series):
        _band(by_loss, temps, loss, name, f"C{i % 10}")
        _band(by_metric, temps, value, name, f"C{i % 10}")
    by_loss.set_ylabel("full-resolution loss on training images")
    by_metric.set_ylabel(f"{table.get('unit', metric)} on training images")
    for ax in (by_loss, by_metric):
        ax.set_xlabel("softmax temperature (multiplier of the default)")
        ax.axvline(1.0, color="gray", ls=":", lw=1)
        ax.grid(alpha=0.3)
    by_metric.legend(fontsize=7, loc="best")
    fig.suptitle("Appendix D: the temperature sweep of each row (the tuned T is the loss minimum)", fontsize=10)
    save_figure(fig, path)
    return True


def save_resolution(path: Path, table: dict, rows: list[tuple[str, list[dict]]]) -> bool:
    """The metric against test-crop size (in tokens of 16 px) for each row with test-crop variants."""
    metric, scale = table["metric"], table.get("scale", 1)
    fig = Figure(figsize=(6.5, 4.2), dpi=100)
    ax = fig.subplots()
    drawn = 0
    for i, (name, runs) in enumerate(rows):
        sizes = {size for r in runs for v in r.get("variants", {}) if (size := crop_size(v))}
        crops = sorted(sizes, key=lambda s: s[0] * s[1])
        keep = [r for r in runs if all(crop_variant(h, w) in r.get("variants", {}) for h, w in crops)]
        if not crops or not keep:
            continue
        values = np.array([[r["variants"][crop_variant(h, w)][metric] * scale for h, w in crops] for r in keep])
        _band(ax, [h * w / 256 for h, w in crops], values, name, f"C{i % 10}")  # (seeds, crops)
        drawn += 1
    if not drawn:
        return False
    ax.set_xlabel("test crop size (tokens of 16x16 px)")
    ax.set_ylabel(f"{table.get('unit', metric)} on test crops")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.suptitle("Appendix A: accuracy against test resolution", fontsize=10)
    save_figure(fig, path)
    return True
