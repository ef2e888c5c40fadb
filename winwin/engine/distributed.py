"""Distributed data-parallel training under ``torchrun``: the process group (NCCL on GPUs, gloo on CPU),
the main process that writes files, and the few collective operations the engine needs.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment, or 1) everything here is a no-op for one
process, so the engine has a single code path."""

from __future__ import annotations

import hashlib
import inspect
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .runtime import resolve_device


@dataclass(frozen=True)
class Dist:
    """This process's place: ``rank`` of ``world`` processes, ``local_rank`` on its machine; ``host_group``:
    a gloo group for small host-side agreements (no GPU synchronisation), None when not distributed."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    host_group: Any = field(default=None, compare=False, repr=False)

    @property
    def main(self) -> bool:
        """The process that writes files and shows the progress bar."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed(device_name: str) -> tuple[Dist, torch.device]:
    """Join the process group ``torchrun`` set up (if any) and pick this process's device: with CUDA,
    ``cuda:<LOCAL_RANK>`` and NCCL; else the CPU and gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world <= 1:
        return Dist(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    host = dist.new_group(backend="gloo") if device.type == "cuda" else dist.group.WORLD
    return Dist(rank, world, local, host), device


def shutdown(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, d: Dist, device: torch.device) -> nn.Module:
    """The model as the training step calls it: DDP (gradients averaged over processes during backward,
    parameters broadcast from the main process once) when distributed, else the model itself."""
    if not d.active:
        return model
    ids = [device.index] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel
    # the model's buffers (RoPE frequencies) are constants: no need to sync them before every forward
    names = inspect.signature(ddp.__init__).parameters
    sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in names else {"broadcast_buffers": False}
    # A (C, 1, k, k) depthwise weight's gradient comes back with another (equivalent) stride for its size-1
    # axis; DDP copies it into its bucket and warns about performance. Nothing to act on.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return ddp(model, device_ids=ids, gradient_as_bucket_view=True, **sync)


def broadcast(obj: Any, d: Dist) -> Any:
    """The main process's ``obj`` on every process (a picklable value: a path, a dict)."""
    if not d.active:
        return obj
    box = [obj if d.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean_over_processes(values: dict[str, float], d: Dist, device: torch.device) -> dict[str, float]:
    """Each value averaged over the processes (the logged training loss, for instance)."""
    if not d.active:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)  # (K,)
    dist.all_reduce(t)
    return {k: v / d.world for k, v in zip(keys, t.tolist())}


def gather_merged(part: Any, d: Dist) -> Any:
    """Objects with ``merge(other)`` (a ``Score``: loss sums and the task's metric of one process's share
    of the validation images) merged on the main process; other processes get None."""
    if not d.active:
        return part
    parts: list[Any] = [None] * d.world
    dist.all_gather_object(parts, part)
    if not d.main:
        return None
    merged = parts[0]
    for other in parts[1:]:
        merged.merge(other)
    return merged


def fingerprint(model: nn.Module) -> str:
    """SHA-256 of every parameter's bytes, in order: equal fingerprints are bit-identical weights."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def same_weights_everywhere(model: nn.Module, d: Dist) -> list[str]:
    """Every process's weight fingerprint; raises if the processes hold different weights (a broken
    data-parallel set-up would otherwise train silently apart)."""
    mine = fingerprint(model)
    if not d.active:
        return [mine]
    every: list[Any] = [None] * d.world
    dist.all_gather_object(every, mine)
    if len(set(every)) > 1:
        raise RuntimeError(f"the {d.world} processes hold different weights (fingerprints by rank: {every})")
    return every
