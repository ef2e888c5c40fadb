"""Monocular depth: log-depth output, SILog / L1-log loss on the window pixels, per-image depth metrics."""

from .loss import l1_log_loss, silog_loss
from .metric import DepthMetric
from .task import DepthSettings, DepthTask

__all__ = ["DepthMetric", "DepthSettings", "DepthTask", "l1_log_loss", "silog_loss"]
