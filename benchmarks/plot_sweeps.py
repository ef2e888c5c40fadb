"""Overlay the temperature sweeps of several calibrated runs (``RUN/calibration/sweep.csv``), relative to
the untuned model: training loss / loss at 1, and mIoU - mIoU at 1. Each sweep must include 1.0.

    python benchmarks/plot_sweeps.py docs/temperature_sweeps.png "2 windows 5x5=runs/demo" "1 crop 7x7=runs/demo_crop"
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_FOLDER")
    parser.add_argument("--title", default="Full-resolution temperature sweeps on training images")
    args = parser.parse_args()
    fig = Figure(figsize=(10, 3.6), dpi=110)
    ax_loss, ax_miou = fig.subplots(1, 2)
    for item in args.runs:
        label, _, run = item.partition("=")
        path = Path(run) / "calibration" / "sweep.csv"
        if not run or not path.exists():
            raise SystemExit(f"error: {item!r}: expected LABEL=RUN_FOLDER with {path} (run `winwin calibrate` first)")
        rows = list(csv.DictReader(path.open()))
        t = [float(r["temperature"]) for r in rows]
        if 1.0 not in t:
            raise SystemExit(f"error: the sweep in {path} does not include the untuned value 1.0")
        loss, miou = [float(r["loss"]) for r in rows], [float(r["miou"]) for r in rows]
        i = t.index(1.0)
        ax_loss.plot(t, [v / loss[i] for v in loss], "o-", ms=3, label=label)
        ax_miou.plot(t, [v - miou[i] for v in miou], "o-", ms=3, label=label)
    for ax in (ax_loss, ax_miou):
        ax.axvline(1.0, color="gray", ls=":", lw=1)
        ax.set_xlabel("temperature multiplier (all attention layers)")
        ax.legend(fontsize=8)
    ax_loss.set_ylabel("training loss / loss at 1")
    ax_miou.set_ylabel("training mIoU - mIoU at 1")
    fig.suptitle(args.title, fontsize=10)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
