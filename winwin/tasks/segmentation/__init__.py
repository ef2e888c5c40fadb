"""Semantic segmentation: per-pixel classes, cross-entropy on the window pixels, mIoU at full resolution."""

from .loss import cross_entropy
from .metric import SegmentationMetric
from .task import SegmentationSettings, SegmentationTask

__all__ = ["SegmentationMetric", "SegmentationSettings", "SegmentationTask", "cross_entropy"]
