"""The run's scalar and picture logs: ``log.jsonl``, ``scalars.csv`` and TensorBoard event files, side by side.

Every record is on disk when ``record`` returns (files appended and closed, the TensorBoard writer flushed), so a
run killed with SIGKILL loses at most the record being written; a run resumed from a checkpoint drops what the
killed process logged after it, so each step is logged once.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..files import atomic_write_text

CSV_FIELDS = ("step", "name", "value", "wall_time")


def tb_tag(name: str) -> str:
    """TensorBoard tag of a logged value: ``val_loss`` -> ``val/loss``, ``loss`` -> ``train/loss``."""
    return f"val/{name[4:]}" if name.startswith("val_") else f"train/{name}"


def _csv_line(row) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


def _kept_jsonl(text: str, resume_step: int) -> str:
    """The lines of ``log.jsonl`` text that are whole JSON records with ``step <= resume_step``."""
    kept = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line: the killed process was writing it
        if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= resume_step:
            kept.append(line + "\n")
    return "".join(kept)


def _kept_csv(text: str, resume_step: int) -> str:
    """``scalars.csv`` text: the header, then the whole rows with ``step <= resume_step``."""
    kept = [_csv_line(CSV_FIELDS)]
    for row in csv.reader(io.StringIO(text)):
        if len(row) != len(CSV_FIELDS):
            continue  # a torn row
        try:
            step = int(row[0])
            float(row[2]), float(row[3])
        except ValueError:
            continue  # the header, or a row torn inside a number
        if step <= resume_step:
            kept.append(_csv_line(row))
    return "".join(kept)


class RunLog:
    """The run's logs, side by side in the run folder: ``log.jsonl`` (one JSON record per line, as before),
    ``scalars.csv`` (long format: step,name,value,wall_time; header once) and TensorBoard event files under
    ``tb/`` (torch.utils.tensorboard.SummaryWriter). Only the main process logs: ``enabled=False`` makes
    every method a no-op and creates no file.

    ``resume_step``: the run goes on from a checkpoint at that step; the records the killed process logged
    after it (and a torn last line) are dropped from ``log.jsonl`` and ``scalars.csv``, and TensorBoard hides
    its later events (``purge_step``). ``None`` is a new run: records are appended to whatever exists."""

    def __init__(self, run_dir: Path, *, enabled: bool = True, resume_step: int | None = None) -> None:
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self.jsonl, self.csv = self.run_dir / "log.jsonl", self.run_dir / "scalars.csv"
        self._writer = None
        if not enabled:
            return
        if resume_step is not None and (isinstance(resume_step, bool) or resume_step < 0):
            raise ValueError(f"resume_step must be a step >= 0 (or None for a new run), got {resume_step!r}")
        try:  # here, not at the top: ranks that do not log never import tensorboard
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError(
                f"RunLog writes TensorBoard event files and needs the tensorboard package, which is not "
                f"installed ({e}); pip install tensorboard"
            ) from e
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            if self.jsonl.exists():
                atomic_write_text(self.jsonl, _kept_jsonl(self.jsonl.read_text(), resume_step))
            if self.csv.exists():
                atomic_write_text(self.csv, _kept_csv(self.csv.read_text(), resume_step))
        purge = None if resume_step is None else resume_step + 1
        self._writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge)

    def _check_open(self) -> None:
        if self._writer is None:
            raise ValueError(f"this RunLog of {self.run_dir} is closed; open a new one to log")

    def record(self, step: int, values: dict[str, float]) -> None:
        """Append ``{"step": step, **values}`` to ``log.jsonl``, one row per value to ``scalars.csv`` and each
        value to TensorBoard (``val/<name>`` for ``val_<name>``, else ``train/<name>``); on disk on return."""
        if not self.enabled:
            return
        self._check_open()
        wall = time.time()
        line = json.dumps({"step": step, **values}) + "\n"
        with self.jsonl.open("a") as f:  # one write of a whole line: a kill tears at most this record
            f.write(line)
        header = not self.csv.exists() or self.csv.stat().st_size == 0
        rows = [_csv_line(CSV_FIELDS)] if header else []
        rows += [_csv_line((step, name, float(value), wall)) for name, value in values.items()]
        with self.csv.open("a", newline="") as f:
            f.write("".join(rows))
        for name, value in values.items():
            self._writer.add_scalar(tb_tag(name), float(value), step, walltime=wall)
        self._writer.flush()

    def image(self, step: int, tag: str, png: Path) -> None:
        """Add the PNG file ``png`` to TensorBoard as an RGB image under ``tag`` at ``step``."""
        if not self.enabled:
            return
        self._check_open()
        with Image.open(png) as im:
            pixels = np.asarray(im.convert("RGB"), dtype=np.uint8)
        self._writer.add_image(tag, pixels, step, dataformats="HWC")
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer; closing twice is fine."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
