"""``build_dataset``: one entry point from a dataset name to a Dataset, for configs and the command line."""

from __future__ import annotations

from typing import Protocol

from .folders import BDD100kSegmentation, CityscapesSegmentation
from .palette import RGB
from .synthetic import SyntheticSegmentation

DATASETS = ("synthetic", "cityscapes", "bdd100k")


class SegmentationDataset(Protocol):
    """What every dataset here offers: samples {"image" (3, H, W), "label" (H, W), "index"} and class info."""

    classes: list[str]
    palette: tuple[RGB, ...]
    num_classes: int

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict: ...


def build_dataset(
    name: str,
    split: str,
    *,
    root: str | None = None,
    length: int | None = None,
    image_hw: tuple[int, int] | None = None,
    seed: int = 0,
    flip: bool = False,
    max_items: int | None = None,
    cache: bool = False,
) -> SegmentationDataset:
    """Build a dataset by name.

    synthetic: ``length`` samples (default 1000) of ``image_hw`` (default 192x384) generated from ``seed``;
    ``root`` and ``max_items`` do not apply. cityscapes / bdd100k: read from ``root``; ``image_hw`` resizes
    on load, ``max_items`` takes an evenly spread subset; ``length`` and ``seed`` do not apply.
    ``cache`` keeps generated synthetic samples in memory (uint8); real data is read from disk each time.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if name == "synthetic":
        if root is not None:
            raise ValueError(f"the synthetic dataset is generated, not read: root={root!r} does not apply")
        if max_items is not None:
            raise ValueError("the synthetic dataset has no max_items; set length (number of samples) instead")
        kwargs = {} if length is None else {"length": length}
        if image_hw is not None:
            kwargs["image_hw"] = image_hw
        return SyntheticSegmentation(split, seed=seed, flip=flip, cache=cache, **kwargs)
    if root is None:
        raise ValueError(f"dataset {name!r} is read from disk: pass root=<folder holding the {name} files>")
    if length is not None:
        raise ValueError(f"dataset {name!r} has a fixed length; use max_items={length} to take a subset")
    reader = CityscapesSegmentation if name == "cityscapes" else BDD100kSegmentation
    return reader(root, split, flip=flip, max_items=max_items, image_hw=image_hw)
