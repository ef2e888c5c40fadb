"""The tasks' metrics under one import path: ``update(pred, target, valid)`` on each batch, ``compute()``
once at the end (each has ``primary`` and ``higher_is_better``)."""

from .tasks.depth.metric import DepthMetric
from .tasks.flow.metric import FlowMetric
from .tasks.segmentation.metric import SegmentationMetric

__all__ = ["DepthMetric", "FlowMetric", "SegmentationMetric"]
