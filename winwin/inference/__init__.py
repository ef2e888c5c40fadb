"""Inference at test time: the full image in one forward pass (Win-Win), or tiling and resizing (the crop
baselines), for every task; and predictions of image files written by the task."""

from .full import full_resolution
from .predict import predict_files
from .strategies import InferenceSpec, infer, resized, tile_grid, tile_starts, tiled

__all__ = [
    "InferenceSpec",
    "full_resolution",
    "infer",
    "predict_files",
    "resized",
    "tile_grid",
    "tile_starts",
    "tiled",
]
