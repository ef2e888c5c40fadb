"""Data: the dataset registry and config, transforms, palettes, the synthetic datasets (segmentation with a
long-range cue, depth scenes in perspective, layered optical flow), the .flo flow format and its colour
picture, the KITTI PNG, PFM and Spring .flo5 flow formats, and readers for real datasets in their standard layouts."""

from .build import DATASETS, DatasetEntry, SegmentationDataset, build_dataset, build_from_config, dataset_task
from .config import DataConfig
from .depth_folders import DepthPNGFolder, KITTIDepth, NYUv2Labeled
from .flow_augment import FlowAugment
from .flow_folders import FlyingChairs
from .flow_folders_benchmarks import KITTIFlow2015, Sintel, Spring
from .flow_folders_things import FlyingThings3D
from .flow_io import (
    read_flo,
    read_flo5,
    read_kitti_flow,
    read_pfm,
    read_pfm_flow,
    write_flo,
    write_flo5,
    write_kitti_flow,
    write_pfm,
)
from .flow_viz import flow_to_color
from .folders import BDD100kSegmentation, CityscapesSegmentation, SegmentationFolder
from .palette import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, colorize, make_palette
from .synthetic import SYNTHETIC_PALETTE, SyntheticSegmentation
from .synthetic_depth import SyntheticDepth
from .synthetic_flow import SyntheticFlow
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
    "DataConfig",
    "DatasetEntry",
    "DepthPNGFolder",
    "FlowAugment",
    "FlyingChairs",
    "FlyingThings3D",
    "KITTIFlow2015",
    "Sintel",
    "Spring",
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KITTIDepth",
    "NYUv2Labeled",
    "SYNTHETIC_PALETTE",
    "Scene",
    "SceneObject",
    "SceneSpec",
    "SegmentationDataset",
    "SegmentationFolder",
    "SyntheticDepth",
    "SyntheticFlow",
    "SyntheticSegmentation",
    "build_dataset",
    "build_from_config",
    "dataset_task",
    "colorize",
    "denormalize",
    "flow_to_color",
    "hflip",
    "load_image",
    "load_label",
    "make_palette",
    "pad_to_multiple",
    "read_flo",
    "read_flo5",
    "read_kitti_flow",
    "read_pfm",
    "read_pfm_flow",
    "to_tensor_image",
    "write_flo",
    "write_flo5",
    "write_kitti_flow",
    "write_pfm",
]
