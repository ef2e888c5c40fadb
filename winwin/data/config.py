"""The ``data:`` section of an experiment: which dataset, where it lives, which splits and sizes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    name: str | None = None  # a name of winwin.data.DATASETS; None = the task's embedded synthetic data
    root: str | None = None  # dataset folder (real datasets)
    image_root: str | None = None  # kitti_depth: the raw KITTI folder holding the images ({date}/{drive}/image_02/data)
    train_split: str = "train"
    val_split: str = "val"
    train_length: int = 2000  # synthetic: number of training images
    val_length: int = 100  # synthetic: validation images
    image_size: list[int] | None = None  # (H, W) px: synthetic size (default 192x384); real data: resize on load
    max_train_items: int | None = None  # real data: use an evenly spread subset
    max_val_items: int | None = None
    flip: bool = False  # random horizontal flips in training (flow datasets: u negated)
    # real flow datasets only (flying_chairs, flying_things, sintel, spring, kitti_flow), in training:
    crop_size: list[int] | None = None  # (H, W) px random crop, at the same place in both frames and the flow
    vflip: bool = False  # random vertical flips (probability 0.1, as RAFT; v negated)
    color_jitter: float = 0.0  # brightness / contrast / saturation strength, one draw for both frames (0 = off)
    options: dict | None = None  # dataset-specific keyword arguments, e.g. sintel: {pass_name: final}
    seed: int = 0  # synthetic: dataset seed
