"""One batch through a task: inputs, target and valid mask padded to the patch size and moved to the
device, and the loss on the supervised pixels (the windows' in training, every pixel at full resolution).
Used by the training loop, the evaluation, the temperature calibration and the benchmarks alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..tasks import Task
from ..windows import window_pixel_index


@dataclass
class Batch:
    """A batch as the model sees it: inputs each (B, 3, H, W), target (B, H, W) or (B, C, H, W), valid
    (B, H, W) bool, all padded at the bottom/right to a multiple of the patch size (padding is invalid)."""

    inputs: list[torch.Tensor]
    target: torch.Tensor
    valid: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # the task's evaluation extras, not padded

    @property
    def size(self) -> int:
        return self.target.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        """On ``device``; from pinned memory the copies are asynchronous (``non_blocking``)."""
        move = {"device": device, "non_blocking": True}
        return Batch(
            [x.to(**move) for x in self.inputs],
            self.target.to(**move),
            self.valid.to(**move),
            {k: v.to(**move) for k, v in self.extras.items()},
        )

    def pin_memory(self) -> Batch:
        """In page-locked memory (the DataLoader's ``pin_memory`` calls this on the batches it yields)."""
        return Batch(
            [x.pin_memory() for x in self.inputs],
            self.target.pin_memory(),
            self.valid.pin_memory(),
            {k: v.pin_memory() for k, v in self.extras.items()},
        )


def _pad(x: torch.Tensor, pad_h: int, pad_w: int, value: float | bool = 0) -> torch.Tensor:
    if not (pad_h or pad_w):
        return x
    if x.dtype == torch.bool:
        return F.pad(x.to(torch.uint8), (0, pad_w, 0, pad_h), value=int(value)).bool()
    return F.pad(x, (0, pad_w, 0, pad_h), value=value)


def pad_batch(task: Task, batch: dict, patch: int | None, extras: bool = False) -> Batch:
    """The task's inputs / target / valid of a loader batch, padded to ``patch`` (None: as they are), where
    they are. Images are padded with zeros (the mean colour after normalisation), the mask with False.
    ``extras``: also the task's metric extras (evaluation only; never in the training loop)."""
    inputs, target, valid = task.inputs(batch), task.target(batch), task.valid(batch)
    H, W = target.shape[-2:]
    pad_h, pad_w = (-H % patch, -W % patch) if patch else (0, 0)
    more = task.extras(batch) if extras else {}
    return Batch(
        [_pad(x, pad_h, pad_w) for x in inputs], _pad(target, pad_h, pad_w), _pad(valid, pad_h, pad_w, False), more
    )


def prepare(task: Task, batch: dict, patch: int | None, device: torch.device | str, extras: bool = False) -> Batch:
    """``pad_batch`` then on ``device``."""
    return pad_batch(task, batch, patch, extras).to(device)


def supervised_pixels(
    task: Task, output: torch.Tensor | list[torch.Tensor], batch: Batch, windows: Any, patch: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Output (B, K, P), target (B, [C,] P) and valid (B, P) of the supervised pixels, windows concatenated
    per image (so a loss computed per image sees all of that image's windows together)."""
    if windows is None:  # (B, [C,] H, W) -> (B, [C,] H*W)
        return output.flatten(-2), batch.target.flatten(-2), batch.valid.flatten(-2)
    index = window_pixel_index(task.supervised_windows(windows), patch, batch.target.shape[-1])  # (B, P)
    out = torch.cat([o.flatten(-2) for o in output], dim=-1)  # (B, K, P)
    target = batch.target.flatten(-2)  # (B, [C,] H*W)
    if target.ndim == 3:
        target = target.gather(-1, index[:, None].expand(-1, target.shape[1], -1))  # (B, C, P)
    else:
        target = target.gather(-1, index)  # (B, P)
    valid = batch.valid.flatten(-2).gather(-1, index)  # (B, P)
    return out, target, valid


def batch_loss(
    task: Task, model: nn.Module, batch: Batch, windows: Any = None, patch: int | None = None
) -> torch.Tensor:
    """The task's loss of one batch: on the windows' pixels when ``windows`` is given, else on the full
    image in one forward. ``patch``: the model's patch size, when ``model`` is a wrapper (DDP, compiled)."""
    output = model(*batch.inputs, windows=windows)  # per window (B, K, h*p, w*p), or (B, K, H, W)
    return task.loss(*supervised_pixels(task, output, batch, windows, patch or model.patch_size))


def loss_function(task: Task, net: nn.Module, patch: int, compile: bool = False):
    """``loss(batch, windows)`` of the training step: ``batch_loss`` with ``net`` (the model, or DDP around
    it), optionally through ``torch.compile`` (forward and loss in one graph, backward compiled with it).
    Shapes are static: each window layout (window sizes, batch size) compiles once, so fixed window sizes
    compile once and random layouts (budget mode) compile per new layout."""

    def loss(batch: Batch, windows: Any) -> torch.Tensor:
        return batch_loss(task, net, batch, windows, patch)

    return torch.compile(loss, dynamic=False) if compile else loss
