"""``SegmentationMetric``: a confusion matrix over the whole dataset -> mIoU, per-class IoU, accuracies."""

from __future__ import annotations

import torch

from ..base import check_mergeable


class SegmentationMetric:
    """Confusion matrix over the whole dataset -> mIoU, per-class IoU, pixel and mean class accuracy.

    Classes absent from both predictions and ground truth (union 0) are left out of the mean, as in
    mmsegmentation; pixels labelled ``ignore_index`` (or outside ``valid``) are not counted.
    """

    primary = "miou"
    higher_is_better = True

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)  # (target, pred)

    def reset(self) -> None:
        self.confusion.zero_()

    def update(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """pred, target: integer label maps of the same shape, e.g. (B, H, W); valid: same shape, bool."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} shapes differ")
        if valid is not None and valid.shape != target.shape:
            raise ValueError(f"valid mask {tuple(valid.shape)} and target {tuple(target.shape)} shapes differ")
        pred, target = pred.detach().flatten().cpu().long(), target.detach().flatten().cpu().long()
        keep = target != self.ignore_index
        if valid is not None:
            keep &= valid.detach().flatten().cpu().bool()
        pred, target = pred[keep], target[keep]
        bad = (target < 0) | (target >= self.num_classes)
        if bool(bad.any()):
            raise ValueError(
                f"target holds labels outside [0, {self.num_classes}) other than {self.ignore_index}: "
                f"{target[bad].unique().tolist()[:5]}"
            )
        if bool(((pred < 0) | (pred >= self.num_classes)).any()):
            raise ValueError(f"prediction holds labels outside [0, {self.num_classes})")
        k = self.num_classes
        self.confusion += torch.bincount(target * k + pred, minlength=k * k).reshape(k, k)

    def merge(self, other: SegmentationMetric) -> None:
        """Add ``other``'s confusion matrix (another shard of the dataset) to this one; ``other`` is unchanged."""
        check_mergeable(self, other, ("num_classes", "ignore_index"))
        self.confusion += other.confusion.to(self.confusion.device)

    def compute(self) -> dict:
        conf = self.confusion.to(torch.float64)
        tp = conf.diag()
        union = conf.sum(0) + conf.sum(1) - tp
        gt = conf.sum(1)
        iou = torch.where(union > 0, tp / union.clamp(min=1), torch.nan)
        acc = torch.where(gt > 0, tp / gt.clamp(min=1), torch.nan)
        total = conf.sum()
        return {
            "miou": float(iou.nanmean()) if bool((union > 0).any()) else float("nan"),
            "iou": [float(v) for v in iou],
            "pixel_acc": float(tp.sum() / total) if total > 0 else float("nan"),
            "mean_acc": float(acc.nanmean()) if bool((gt > 0).any()) else float("nan"),
            "pixels": int(total),
        }
