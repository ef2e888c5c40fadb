"""Evaluation of any task: by default the full image in one forward, no windows, no tiling; tiling and
resizing (the crop baselines) through an ``InferenceSpec``."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..inference import InferenceSpec, infer
from ..tasks import Task
from .runtime import autocast
from .step import Batch, prepare, supervised_pixels


class Score:
    """The task's loss and metric of full-image outputs, accumulated over batches. The loss is averaged
    over all valid pixels of the dataset (each batch's mean weighted by its valid pixels), not per batch."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.metric = task.metric()
        self.loss_sum, self.pixels, self.images = 0.0, 0, 0

    def update(self, output: torch.Tensor, batch: Batch) -> None:
        """output: (B, K, H, W) raw model output for ``batch`` (full images)."""
        output = output.float()
        valid = int(batch.valid.sum())
        if valid:
            loss = self.task.loss(*supervised_pixels(self.task, output, batch, None, 1))
            self.loss_sum += float(loss) * valid
            self.pixels += valid
        self.task.update_metric(self.metric, self.task.predict(output), batch.target, batch.valid, batch.extras)
        self.images += batch.size

    def merge(self, other: Score) -> None:
        """Add ``other``'s loss, counts and metric (another shard of the dataset) to these; ``other`` is unchanged."""
        if not isinstance(other, Score):
            raise ValueError(f"cannot merge a {type(other).__name__} into a Score")
        self.metric.merge(other.metric)
        self.loss_sum += other.loss_sum
        self.pixels += other.pixels
        self.images += other.images

    def compute(self) -> dict:
        result = self.metric.compute()
        result["loss"] = self.loss_sum / max(self.pixels, 1)
        result["images"] = self.images
        return result


@torch.no_grad()
def score_dataset(
    task: Task,
    model: nn.Module,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    temperature: float | None = None,
    bf16: bool = False,
    progress: bool = True,
    inference: InferenceSpec | None = None,
) -> Score:
    """The accumulated ``Score`` of full-image predictions over ``dataset`` (mergeable with the scores of
    other shares of a dataset); ``evaluate`` computes its metrics."""
    device = torch.device(device)
    score = Score(task)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for raw in tqdm(loader, desc="eval", disable=not progress, leave=False):
        batch = prepare(task, raw, None, device, extras=True)  # the model pads to the patch size itself
        with autocast(device.type, bf16):
            output = infer(model, task, batch.inputs, inference, temperature)  # (B, K, H, W)
        score.update(output, batch)
    return score


def evaluate(
    task: Task,
    model: nn.Module,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    temperature: float | None = None,
    bf16: bool = False,
    progress: bool = True,
    inference: InferenceSpec | None = None,
) -> dict:
    """The task's metrics and mean loss of full-image predictions over ``dataset``. ``temperature``
    overrides the model's own (shared or per-head) attention temperature; ``inference`` picks the test-time
    strategy (None: the full image in one pass)."""
    return score_dataset(task, model, dataset, device, batch_size, temperature, bf16, progress, inference).compute()
