"""Data: transforms, palettes, the synthetic long-range dataset and readers for Cityscapes / BDD100k."""

from .build import DATASETS, SegmentationDataset, build_dataset
from .folders import BDD100kSegmentation, CityscapesSegmentation, SegmentationFolder
from .palette import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, colorize, make_palette
from .synthetic import SYNTHETIC_PALETTE, SyntheticSegmentation
from .synthetic_scene import Scene, SceneObject, SceneSpec
from .transforms import (
    IGNORE_INDEX,
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize,
    hflip,
    load_image,
    load_label,
    pad_to_multiple,
    to_tensor_image,
)

__all__ = [
    "BDD100kSegmentation",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_PALETTE",
    "CityscapesSegmentation",
    "DATASETS",
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SYNTHETIC_PALETTE",
    "Scene",
    "SceneObject",
    "SceneSpec",
    "SegmentationDataset",
    "SegmentationFolder",
    "SyntheticSegmentation",
    "build_dataset",
    "colorize",
    "denormalize",
    "hflip",
    "load_image",
    "load_label",
    "make_palette",
    "pad_to_multiple",
    "to_tensor_image",
]
