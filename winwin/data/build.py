"""The dataset registry: one entry point from a dataset name to a Dataset, for configs and the command line.

Each dataset serves one task (``dataset_task``); generated datasets take a length and a seed, real ones a
root folder and an optional subset size. Readers are imported when first used (h5py and friends are only
loaded by the runs that need them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from torch.utils.data import Dataset

from ..errors import InputError
from .config import DataConfig
from .palette import RGB

if TYPE_CHECKING:
    from .flow_augment import FlowAugment


class SegmentationDataset(Protocol):
    """What every segmentation dataset here offers: samples {"image" (3, H, W), "label" (H, W), "index"}
    and class info."""

    classes: list[str]
    palette: tuple[RGB, ...]
    num_classes: int

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict: ...


@dataclass(frozen=True)
class DatasetEntry:
    task: str  # the task its samples serve
    generated: bool  # True: synthetic, ``length`` samples from ``seed``; False: read from ``root``
    make: Callable[..., Dataset]  # (split, **options) -> Dataset
    options: tuple[str, ...] = ()  # its dataset-specific keyword arguments (data.options)


def _synthetic(split: str, **kw) -> Dataset:
    from .synthetic import SyntheticSegmentation

    return SyntheticSegmentation(split, **kw)


def _synthetic_depth(split: str, **kw) -> Dataset:
    from .synthetic_depth import SyntheticDepth

    return SyntheticDepth(split, **kw)


def _synthetic_flow(split: str, **kw) -> Dataset:
    from .synthetic_flow import SyntheticFlow

    return SyntheticFlow(split, **kw)


def _synthetic_flow_photos(split: str, **kw) -> Dataset:
    from .synthetic_flow import SyntheticFlowPhotos

    return SyntheticFlowPhotos(split, **kw)


def _cityscapes(root: str, split: str, **kw) -> Dataset:
    from .folders import CityscapesSegmentation

    return CityscapesSegmentation(root, split, **kw)


def _bdd100k(root: str, split: str, **kw) -> Dataset:
    from .folders import BDD100kSegmentation

    return BDD100kSegmentation(root, split, **kw)


def _nyuv2(root: str, split: str, **kw) -> Dataset:
    from .depth_folders import NYUv2Labeled

    return NYUv2Labeled(root, split, **kw)


def _nyuv2_png(root: str, split: str, **kw) -> Dataset:
    from .depth_folders import DepthPNGFolder

    return DepthPNGFolder(root, split, **kw)


def _kitti_depth(root: str, split: str, image_root: str | None = None, **kw) -> Dataset:
    from .depth_folders import KITTIDepth

    if image_root is None:
        raise ValueError("kitti_depth reads its images from the raw KITTI data: set data.image_root")
    return KITTIDepth(root, split, image_root, **kw)


def _flying_chairs(root: str, split: str, **kw) -> Dataset:
    from .flow_folders import FlyingChairs

    return FlyingChairs(root, split, **kw)


def _flying_things(root: str, split: str, **kw) -> Dataset:
    from .flow_folders_things import FlyingThings3D

    return FlyingThings3D(root, split, **kw)


def _sintel(root: str, split: str, **kw) -> Dataset:
    from .flow_folders_benchmarks import Sintel

    return Sintel(root, split, **kw)


def _spring(root: str, split: str, **kw) -> Dataset:
    from .flow_folders_benchmarks import Spring

    return Spring(root, split, **kw)


def _kitti_flow(root: str, split: str, **kw) -> Dataset:
    from .flow_folders_benchmarks import KITTIFlow2015

    return KITTIFlow2015(root, split, **kw)


DATASETS: dict[str, DatasetEntry] = {
    "synthetic": DatasetEntry("segmentation", True, _synthetic),
    "synthetic_depth": DatasetEntry("depth", True, _synthetic_depth),
    "synthetic_flow": DatasetEntry("flow", True, _synthetic_flow),
    "synthetic_flow_photos": DatasetEntry("flow", True, _synthetic_flow_photos),
    "cityscapes": DatasetEntry("segmentation", False, _cityscapes),
    "bdd100k": DatasetEntry("segmentation", False, _bdd100k),
    "nyuv2": DatasetEntry("depth", False, _nyuv2),
    "nyuv2_png": DatasetEntry("depth", False, _nyuv2_png, ("scale", "min_depth", "max_depth")),
    "kitti_depth": DatasetEntry("depth", False, _kitti_depth, ("camera",)),
    "flying_chairs": DatasetEntry("flow", False, _flying_chairs, ("split_file",)),
    "flying_things": DatasetEntry(
        "flow", False, _flying_things, ("pass_name", "cameras", "directions", "exclude_file")
    ),
    "sintel": DatasetEntry("flow", False, _sintel, ("pass_name", "scenes")),
    "spring": DatasetEntry("flow", False, _spring, ("camera", "full_gt", "scenes")),
    "kitti_flow": DatasetEntry("flow", False, _kitti_flow, ("gt",)),
}
FLOW_AUGMENT_FIELDS = ("crop_size", "vflip", "color_jitter")  # DataConfig fields for the real flow datasets


def _entry(name: str) -> DatasetEntry:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def dataset_task(name: str) -> str:
    """The task a dataset's samples serve."""
    return _entry(name).task


def _is_real_flow(entry: DatasetEntry) -> bool:
    return entry.task == "flow" and not entry.generated


def _check_options(name: str, entry: DatasetEntry, options: dict) -> None:
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise InputError(f"dataset options must be a mapping of option names to values, got {options!r}")
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        known = ", ".join(entry.options) if entry.options else "none"
        raise InputError(f"the {name} dataset has no option {', '.join(unknown)}; its options: {known}")


def build_dataset(
    name: str,
    split: str,
    *,
    root: str | None = None,
    image_root: str | None = None,
    length: int | None = None,
    image_hw: tuple[int, int] | None = None,
    seed: int = 0,
    flip: bool = False,
    max_items: int | None = None,
    cache: bool = False,
    augment: FlowAugment | None = None,
    options: dict | None = None,
) -> Dataset:
    """Build a dataset by name.

    Generated datasets (synthetic, synthetic_depth, synthetic_flow): ``length`` samples of ``image_hw`` (default
    192x384) from ``seed``; ``root`` and ``max_items`` do not apply; ``cache`` keeps generated samples in memory.
    Real datasets: read from ``root``; ``image_hw`` resizes on load, ``max_items`` takes an evenly spread
    subset; ``length`` and ``seed`` do not apply. ``augment`` (a ``FlowAugment``: crop, flips, colour jitter)
    applies to the real flow datasets only. ``options``: the dataset's own keyword arguments
    (``DATASETS[name].options``, e.g. sintel's pass_name); an unknown one raises ``InputError``.
    """
    entry = _entry(name)
    options = {} if options is None else options
    _check_options(name, entry, options)
    if augment is not None and not _is_real_flow(entry):
        flow_sets = sorted(n for n, e in DATASETS.items() if _is_real_flow(e))
        raise InputError(
            f"flow augmentation (crop, vflip, colour jitter) applies to {', '.join(flow_sets)}, not {name}"
        )
    if entry.generated:
        if root is not None:
            raise ValueError(f"the {name} dataset is generated, not read: root={root!r} does not apply")
        if max_items is not None:
            raise ValueError(f"the {name} dataset has no max_items; set length (number of samples) instead")
        kwargs: dict = {} if length is None else {"length": length}
        if image_hw is not None:
            kwargs["image_hw"] = image_hw
        return entry.make(split, seed=seed, flip=flip, cache=cache, **kwargs)
    if root is None:
        raise ValueError(f"dataset {name!r} is read from disk: pass root=<folder holding the {name} files>")
    if length is not None:
        raise ValueError(f"dataset {name!r} has a fixed length; use max_items={length} to take a subset")
    extra = {"image_root": image_root} if image_root is not None else {}
    if augment is not None:
        extra["augment"] = augment
    return entry.make(root, split, flip=flip, max_items=max_items, image_hw=image_hw, **extra, **options)


def _flow_augment(d: DataConfig, name: str, entry: DatasetEntry, augment: bool) -> FlowAugment | None:
    """The training augmentation of a real flow dataset from the data section (None when ``augment`` is off)."""
    set_fields = [f for f in FLOW_AUGMENT_FIELDS if getattr(d, f) not in (None, False, 0.0)]
    if set_fields and not _is_real_flow(entry):
        flow_sets = sorted(n for n, e in DATASETS.items() if _is_real_flow(e))
        raise InputError(
            f"data.{', data.'.join(set_fields)} apply to the real flow datasets ({', '.join(flow_sets)}), "
            f"not to {name}: unset them"
        )
    if not augment or not _is_real_flow(entry):
        return None
    from .flow_augment import FlowAugment

    crop = None if d.crop_size is None else tuple(d.crop_size)
    if crop is not None and len(crop) != 2:
        raise InputError(f"data.crop_size must be [H, W] in pixels, got {d.crop_size}")
    return FlowAugment(crop_hw=crop, hflip=d.flip, vflip=d.vflip, color_jitter=d.color_jitter)


def build_from_config(d: DataConfig, split: str, *, train: bool, augment: bool = False, cache: bool = False) -> Dataset:
    """One split of the experiment's dataset: the training split's sizes (length, subset) when ``train``,
    the validation split's otherwise; random flips (``data.flip``) and, for the real flow datasets, the crop,
    vertical flips and colour jitter only when ``augment``; ``data.options`` go to the dataset."""
    if d.name is None:
        raise ValueError("data.name is not set (the task fills in its embedded dataset when the config is loaded)")
    image_hw = tuple(d.image_size) if d.image_size is not None else None
    entry = _entry(d.name)
    flow_augment = _flow_augment(d, d.name, entry, augment)
    if entry.generated:
        length = d.train_length if train else d.val_length
        return build_dataset(
            d.name,
            split,
            length=length,
            image_hw=image_hw,
            seed=d.seed,
            flip=d.flip and augment,
            cache=cache,
            options=d.options,
        )
    max_items = d.max_train_items if train else d.max_val_items
    return build_dataset(
        d.name,
        split,
        root=d.root,
        image_root=d.image_root,
        image_hw=image_hw,
        flip=d.flip and augment,
        max_items=max_items,
        augment=flow_augment,
        options=d.options,
    )
