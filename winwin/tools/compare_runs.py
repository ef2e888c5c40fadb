"""Compare groups of runs (e.g. seeds of two training settings) by their full-resolution ``eval.json``:
per metric the mean, the sample standard deviation over the runs of a group, and every run's value.

    python -m winwin.tools.compare_runs "2 windows 5x5=runs/depth_demo_s0,runs/depth_demo_s1" \\
        "1 crop 7x7=runs/depth_demo_crop_s0,runs/depth_demo_crop_s1" --metrics abs_rel d1 [-o table.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from ..files import atomic_write_text


def read_group(item: str) -> tuple[str, list[tuple[str, dict]]]:
    """``"LABEL=RUN,RUN,..."`` -> (label, [(run, eval.json contents)])."""
    label, sep, runs = item.partition("=")
    if not sep or not runs:
        raise SystemExit(f"error: {item!r}: expected LABEL=RUN[,RUN...]")
    out = []
    for run in runs.split(","):
        path = Path(run) / "eval.json"
        if not path.is_file():
            raise SystemExit(f"error: {path} does not exist (is {run} a finished run folder?)")
        out.append((run, json.loads(path.read_text())))
    return label, out


def table(groups: list[tuple[str, list[tuple[str, dict]]]], metrics: list[str]) -> str:
    """A markdown table: one row per group, ``mean +- std (value, value, ...)`` per metric."""
    lines = ["| setting | runs | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for label, runs in groups:
        cells = []
        for m in metrics:
            missing = [run for run, r in runs if m not in r]
            if missing:
                raise SystemExit(f"error: {missing[0]}/eval.json has no {m!r}; it has {sorted(runs[0][1])}")
            values = [float(r[m]) for _, r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else float("nan")
            cells.append(f"{statistics.fmean(values):.4f} +- {spread:.4f} ({', '.join(f'{v:.4f}' for v in values)})")
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", help="LABEL=RUN[,RUN...]")
    parser.add_argument("--metrics", nargs="+", required=True, help="keys of eval.json, e.g. miou or abs_rel d1")
    parser.add_argument("-o", "--output", help="also write the table to this markdown file")
    args = parser.parse_args()
    text = table([read_group(g) for g in args.groups], args.metrics)
    print(text, end="")
    if args.output:
        atomic_write_text(Path(args.output), text)


if __name__ == "__main__":
    main()
