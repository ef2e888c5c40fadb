"""Full-resolution evaluation: one forward per image, no windows, no tiling."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..metrics import SegmentationMetric
from ..models import DenseModel
from ..tasks import IGNORE_INDEX


@contextmanager
def temperature_override(model: DenseModel, value: float | None):
    """Temporarily set the global attention temperature of every attention layer (None: leave as is)."""
    if value is None:
        yield
        return
    saved = [attn.temperature for attn in model.attention_layers()]
    model.set_temperature(value)
    try:
        yield
    finally:
        for attn, t in zip(model.attention_layers(), saved):
            attn.temperature = t


@torch.no_grad()
def evaluate_segmentation(
    model: DenseModel,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    temperature: float | None = None,
    progress: bool = True,
) -> dict:
    """mIoU (and per-class IoU, pixel accuracy, mean loss) of full-image predictions over ``dataset``."""
    was_training = model.training
    model.eval()
    metric = SegmentationMetric(dataset.num_classes, IGNORE_INDEX)
    loss_sum, pixels = 0.0, 0
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    with temperature_override(model, temperature):
        for batch in tqdm(loader, desc="eval", disable=not progress, leave=False):
            images, labels = batch["image"].to(device), batch["label"].to(device)
            logits = model(images).float()  # (B, K, H, W)
            valid = int((labels != IGNORE_INDEX).sum())
            if valid:
                loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum"))
                pixels += valid
            metric.update(logits.argmax(1), labels)
    model.train(was_training)
    result = metric.compute()
    result["loss"] = loss_sum / max(pixels, 1)
    result["images"] = len(dataset)
    return result
