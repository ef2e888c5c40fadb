"""Device, threads and seeds, decided once at the entry point."""

from __future__ import annotations

import os
import random
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

from .threads import claim_threads


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available; use device=cpu")
    return device


def autocast(device_type: str, bf16: bool) -> AbstractContextManager:
    """bf16 autocast on ``device_type`` when asked for, else a no-op context (fp32)."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if bf16 else nullcontext()


def setup_runtime(seed: int, threads: int = 0, deterministic: bool = False) -> int:
    """Seeds, determinism and CPU threads for this process; returns the number of threads it uses.

    ``threads`` > 0 is used as given; 0 takes this process's share of the cores among the winwin processes
    running on the machine (:mod:`winwin.engine.threads`, which also registers this one until it exits)."""
    if deterministic:
        # cuBLAS needs a fixed workspace for deterministic results; set before its first use
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    chosen = claim_threads(threads)
    torch.set_num_threads(chosen)  # not set_num_interop_threads: it raises once any parallel work has run
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return chosen
