"""Full-resolution evaluation: one forward per image, no windows, no tiling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..metrics import SegmentationMetric
from ..models import DenseModel
from ..models.temperature import temperature_override
from ..tasks import IGNORE_INDEX


class SegmentationScore:
    """Mean per-pixel cross-entropy and the segmentation metrics of full-image predictions, accumulated
    over batches (the loss is averaged over all valid pixels of the dataset, not per batch)."""

    def __init__(self, num_classes: int) -> None:
        self.metric = SegmentationMetric(num_classes, IGNORE_INDEX)
        self.loss_sum, self.pixels, self.images = 0.0, 0, 0

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """logits: (B, K, H, W), labels: (B, H, W) with IGNORE_INDEX where unlabelled."""
        logits = logits.float()
        valid = int((labels != IGNORE_INDEX).sum())
        if valid:
            self.loss_sum += float(F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum"))
            self.pixels += valid
        self.metric.update(logits.argmax(1), labels)
        self.images += logits.shape[0]

    def compute(self) -> dict:
        result = self.metric.compute()
        result["loss"] = self.loss_sum / max(self.pixels, 1)
        result["images"] = self.images
        return result


@torch.no_grad()
def evaluate_segmentation(
    model: DenseModel,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    temperature: float | None = None,
    progress: bool = True,
) -> dict:
    """mIoU (and per-class IoU, pixel accuracy, mean loss) of full-image predictions over ``dataset``.
    ``temperature`` overrides the model's own (shared or per-head) attention temperature."""
    was_training = model.training
    model.eval()
    score = SegmentationScore(model.config.num_classes)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    with temperature_override(model, temperature):
        for batch in tqdm(loader, desc="eval", disable=not progress, leave=False):
            images, labels = batch["image"].to(device), batch["label"].to(device)
            score.update(model(images), labels)  # (B, K, H, W)
    model.train(was_training)
    return score.compute()
