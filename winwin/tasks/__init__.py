"""Per-task losses; one file per task."""

from .segmentation import IGNORE_INDEX, full_loss, window_loss

__all__ = ["IGNORE_INDEX", "full_loss", "window_loss"]
