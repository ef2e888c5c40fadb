"""Overlay the temperature sweeps of several calibrated runs (``RUN/calibration/sweep.csv``), relative to
the untuned model: training loss / loss at 1, and the task's primary metric minus its value at 1.
Each sweep must include 1.0.

    python -m winwin.tools.plot_sweeps docs/temperature_sweeps.png "2 windows 5x5=runs/demo" "1 crop 7x7=runs/demo_crop"
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from matplotlib.figure import Figure

from ..files import save_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_FOLDER")
    parser.add_argument("--title", default="Full-resolution temperature sweeps on training images")
    parser.add_argument(
        "--metric",
        help="column of sweep.csv to plot beside the loss (default: the task's "
        "primary metric, the column after the loss)",
    )
    args = parser.parse_args()
    fig = Figure(figsize=(10, 3.6), dpi=110)
    ax_loss, ax_metric = fig.subplots(1, 2)
    for item in args.runs:
        label, _, run = item.partition("=")
        path = Path(run) / "calibration" / "sweep.csv"
        if not run or not path.exists():
            raise SystemExit(f"error: {item!r}: expected LABEL=RUN_FOLDER with {path} (run `winwin calibrate` first)")
        rows = list(csv.DictReader(path.open()))
        t = [float(r["temperature"]) for r in rows]
        if 1.0 not in t:
            raise SystemExit(f"error: the sweep in {path} does not include the untuned value 1.0")
        metric = args.metric or list(rows[0])[2]  # temperature, loss, the primary metric, ...
        loss, score = [float(r["loss"]) for r in rows], [float(r[metric]) for r in rows]
        i = t.index(1.0)
        ax_loss.plot(t, [v / loss[i] for v in loss], "o-", ms=3, label=label)
        ax_metric.plot(t, [v - score[i] for v in score], "o-", ms=3, label=label)
    for ax in (ax_loss, ax_metric):
        ax.axvline(1.0, color="gray", ls=":", lw=1)
        ax.set_xlabel("temperature multiplier (all attention layers)")
        ax.legend(fontsize=8)
    ax_loss.set_ylabel("training loss / loss at 1")
    ax_metric.set_ylabel(f"training {metric} - {metric} at 1")
    fig.suptitle(args.title, fontsize=10)
    save_figure(fig, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
