"""Inference at test time: the full image in one forward pass (resize and tiling join here later), and
predictions of image files written by the task."""

from .full import full_resolution
from .predict import predict_files

__all__ = ["full_resolution", "predict_files"]
