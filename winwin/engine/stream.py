"""The training stream as a pure function of (seed, step): which images each step trains on, their random
augmentation, the windows drawn and the process-wide random generators are all derived from the run's
seed and the step (and the process rank where they must differ), never carried from step to step.

So a run resumed at step ``s`` replays exactly what the uninterrupted run did from ``s`` on (the step is
the whole state of every generator), the data order does not depend on the number of loader workers, and
the images and windows of a global batch do not depend on how many processes share it."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, default_collate

from ..tasks import Task
from ..windows import WindowSpec
from .step import Batch, pad_batch

# Independent streams derived from one seed.
DATA, AUGMENT, WINDOWS, PROCESS = 1, 2, 3, 4


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixing ``parts`` (non-negative ints) through numpy's SeedSequence (no correlation
    between neighbouring steps or indices, unlike ``seed + step``)."""
    state = np.random.SeedSequence([int(p) % 2**63 for p in parts]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def seed_step(seed: int, step: int, rank: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's global generators for one training step of one
    process (dropout, drop-path and anything else drawing from the global generators)."""
    s = derive_seed(seed, PROCESS, step, rank)
    torch.manual_seed(s)
    np.random.seed(s % 2**32)
    random.seed(s)


def window_generator(seed: int, step: int) -> torch.Generator:
    """The window sampler's generator of one step, the same on every process (it draws for the global
    batch; each process keeps its rows)."""
    return torch.Generator().manual_seed(derive_seed(seed, WINDOWS, step))


class StepBatches(Sampler[tuple[int, list[tuple[int, int]]]]):
    """(step, [(dataset index, augmentation seed), ...]) for steps ``start`` to ``total`` of one process.

    Epoch ``e`` is a permutation of the dataset drawn from (seed, e); step ``s`` of the run is global batch
    ``s % per_epoch`` of epoch ``s // per_epoch`` (``per_epoch`` = len(dataset) // global_batch, the rest of
    an epoch dropped); process ``rank`` of ``world`` takes its equal share of that global batch."""

    def __init__(self, size: int, global_batch: int, seed: int, start: int, total: int, rank: int = 0, world: int = 1):
        if global_batch % world:
            raise ValueError(
                f"the global batch of {global_batch} images does not split evenly over {world} processes; "
                f"use a multiple of {world} (train.batch_size is the global batch)"
            )
        if size < global_batch:
            raise ValueError(f"the global batch of {global_batch} images is larger than the dataset ({size} images)")
        self.size, self.global_batch, self.seed = size, global_batch, seed
        self.start, self.total, self.rank, self.world = start, total, rank, world
        self.per_epoch = size // global_batch
        self.local = global_batch // world

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def permutation(self, epoch: int) -> torch.Tensor:
        """(size,) the order of epoch ``epoch``."""
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(derive_seed(self.seed, DATA, epoch)))

    def __iter__(self) -> Iterator[tuple[int, list[tuple[int, int]]]]:
        epoch, order = -1, torch.empty(0, dtype=torch.long)
        for step in range(self.start, self.total):
            e, k = divmod(step, self.per_epoch)
            if e != epoch:
                epoch, order = e, self.permutation(e)
            lo = k * self.global_batch + self.rank * self.local
            yield step, [(i, derive_seed(self.seed, AUGMENT, e, i)) for i in order[lo : lo + self.local].tolist()]


@dataclass(frozen=True)
class StepBatch:
    """What one training step consumes, ready on the host: the padded batch and its windows (None for
    full-resolution training; a pair for a binocular task). Pinned by the loader on GPUs."""

    step: int
    batch: Batch
    windows: Any

    def pin_memory(self) -> StepBatch:
        return StepBatch(self.step, self.batch.pin_memory(), _each(self.windows, lambda w: w.pin_memory()))

    def to(self, device: torch.device) -> tuple[Batch, Any]:
        """(batch, windows) on ``device``, copied asynchronously from pinned memory."""
        return self.batch.to(device), _each(self.windows, lambda w: w.to(device))


def _each(windows: Any, fn) -> Any:
    if isinstance(windows, tuple):
        return tuple(fn(w) for w in windows)
    return None if windows is None else fn(windows)


class StepSource(Dataset):
    """``source[(step, items)]`` -> the ``StepBatch`` of that step: the seeded samples collated and padded,
    and the windows drawn for them (the task may read the target to place them). The loader's
    workers do this ahead of the training step, so the step itself never waits on the host."""

    def __init__(self, dataset: Dataset, task: Task, spec: WindowSpec, grid: tuple[int, int], patch: int, seed: int,
                 rank: int = 0, world: int = 1) -> None:  # fmt: skip
        self.samples, self.task, self.spec, self.grid = SeededSamples(dataset), task, spec, grid
        self.patch, self.seed, self.part = patch, seed, (rank, world)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, list[tuple[int, int]]]) -> StepBatch:
        step, items = key
        batch = pad_batch(self.task, default_collate([self.samples[item] for item in items]), self.patch)
        gen = window_generator(self.seed, step)  # the same on every process: windows drawn for the global batch
        windows = self.task.sample_windows(self.spec, self.grid, batch.target, batch.valid, gen, self.part)
        return StepBatch(step, batch, windows)


class SeededSamples(Dataset):
    """``dataset[index]`` with torch's generator seeded by the sample's own seed (and restored afterwards):
    a dataset's random augmentation (drawn from torch) becomes a function of (seed, epoch, index), the same
    in the main process and in any loader worker."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        cpu = torch.default_generator  # only the CPU generator: the CUDA ones stay the step's
        state = cpu.get_state()
        cpu.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            cpu.set_state(state)


def endless(loader: Iterable):
    """Batches of ``loader``, epoch after epoch (the loops that need no exact resume: calibration,
    pretraining)."""
    while True:
        yield from loader
