"""Plots of the temperature calibration: the sweep curve and the learned per-head temperatures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..files import save_figure


def plot_sweep(curve: list[dict], best: dict, path: Path, title: str, criterion: str, metric: str) -> None:
    """Training loss (left axis) and the task's primary ``metric`` (right axis) against the temperature."""
    t = [r["temperature"] for r in curve]
    fig = Figure(figsize=(6.4, 3.8), dpi=110)
    ax = fig.subplots()
    ax.plot(t, [r["loss"] for r in curve], "o-", color="tab:blue", ms=3, label="loss")
    ax.set_xlabel("temperature multiplier of 1/sqrt(D) (all attention layers)")
    ax.set_ylabel("full-resolution training loss", color="tab:blue")
    ax.axvline(1.0, color="gray", ls=":", lw=1)
    ax.axvline(best["temperature"], color="tab:red", ls="--", lw=1)
    ax.annotate(
        f"selected {best['temperature']:g} ({criterion})",
        (best["temperature"], 0.02),
        color="tab:red",
        xycoords=("data", "axes fraction"),
        textcoords="offset points",
        xytext=(-4, 0),
        ha="right",
        fontsize=8,
    )
    right = ax.twinx()
    right.plot(t, [r[metric] for r in curve], "s-", color="tab:orange", ms=3)
    right.set_ylabel(metric, color="tab:orange")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def plot_learning(log: list[dict], temperatures: list[list[float]], init: float, path: Path) -> None:
    """Loss per step and the learned temperature of every head (layers x heads)."""
    fig = Figure(figsize=(10, 3.6), dpi=110)
    ax_loss, ax_heads = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    steps = [r["step"] for r in log]
    loss = np.array([r["loss"] for r in log])
    ax_loss.plot(steps, loss, color="tab:blue", alpha=0.35, lw=1, label="batch loss")
    if len(loss) >= 10:
        k = max(1, len(loss) // 20)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax_loss.plot(steps[k - 1 :], smooth, color="tab:blue", lw=1.5, label=f"mean of {k}")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("full-resolution training loss")
    ax_loss.legend(fontsize=8)
    values = np.array(temperatures)  # (layers, heads)
    span = max(float(np.abs(values - init).max()), 1e-3)  # colours centred on the starting value
    im = ax_heads.imshow(values, cmap="coolwarm", vmin=init - span, vmax=init + span, aspect="auto")
    ax_heads.set_xticks(range(values.shape[1]))
    ax_heads.set_yticks(range(values.shape[0]))
    if values.size <= 64:
        for (i, j), v in np.ndenumerate(values):
            ax_heads.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    ax_heads.set_xlabel("head")
    ax_heads.set_ylabel("attention layer")
    ax_heads.set_title(f"learned temperatures (start {init:g})", fontsize=9)
    fig.colorbar(im, ax=ax_heads)
    save_figure(fig, path)
