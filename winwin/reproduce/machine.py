"""The machine a reproduction trains on: named in the report's header and in each finished result."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

import torch

from ..files import atomic_write_text


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return cpu


def run_machine() -> dict:
    """What a finished (row, seed) records about where it trained (cheap: nothing is measured)."""
    info = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    if torch.cuda.is_initialized():  # the run trained on a GPU (its CPU pace says nothing of this machine's)
        info["gpu"] = torch.cuda.get_device_name()
    return info


def machine(device: str) -> dict:
    from ..tools.flops import matmul_peak

    dev = torch.device(device)
    peak = matmul_peak(dev, torch.float32)
    return {
        "cpu": cpu_name(), "cores": torch.get_num_threads(), "torch": torch.__version__, "device": str(dev),
        "matmul_gflops": round(peak / 1e9, 1), "date": datetime.date.today().isoformat(),
    }  # fmt: skip


def machine_of(out: Path, device: str, report_only: bool, command: str) -> dict:
    """The machine the runs train on: measured (and kept in ``OUT/machine.json``) by a run that trains; a
    report-only run reads it back (and the command that trains), so its header does not take a matmul peak
    measured beside the training."""
    path = out / "machine.json"
    if report_only and path.is_file():
        return json.loads(path.read_text())
    info = machine(device)
    if not report_only:
        atomic_write_text(path, json.dumps({**info, "command": command}, indent=2))
    return info
