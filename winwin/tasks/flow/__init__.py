"""Optical flow: a binocular model, flow-guided windows in the second frame, Laplacian loss, EPE metrics."""

from .loss import bounded_confidence, epe_loss, laplacian_loss
from .metric import FlowMetric
from .task import FlowSettings, FlowTask

__all__ = ["FlowMetric", "FlowSettings", "FlowTask", "bounded_confidence", "epe_loss", "laplacian_loss"]
