"""The optical-flow benchmarks in their released layouts: MPI-Sintel, Spring and KITTI 2015.

Sintel   ROOT/{training,test}/{clean,final}/{scene}/frame_{n:04d}.png
         ROOT/training/flow/{scene}/frame_{n:04d}.flo, occlusions/{scene}/..png, invalid/{scene}/..png
Spring   ROOT/{train,test}/{scene:04d}/frame_left/frame_left_{n:04d}.png
         ROOT/train/{scene}/flow_FW_left/flow_FW_left_{n:04d}.flo5   (2x the image resolution, NaN = invalid)
KITTI    ROOT/{training,testing}/image_2/{n:06d}_10.png, {n:06d}_11.png
         ROOT/training/flow_occ|flow_noc/{n:06d}_10.png   (16-bit PNG, sparse)

The test splits have no ground truth: their samples have zero flow, valid False, and ``has_flow`` is False.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .flow_augment import FlowAugment
from .flow_folders import FLOW, FRAME1, FRAME2, FlowFolder, FlowItem, _names, read_flow_file, read_mask

OCCLUSIONS, INVALID = "occlusion mask", "invalid mask"
_SINTEL_FRAME = re.compile(r"frame_(\d{4})\.png")
_KITTI_FRAME = re.compile(r"(\d{6})_10\.png")


def _numbers(folder: Path, pattern: re.Pattern) -> list[int]:
    """Sorted frame numbers of the files in ``folder`` whose names match ``pattern`` (group 1: the number)."""
    return sorted(int(m.group(1)) for m in map(pattern.fullmatch, _names(folder)) if m)


class SceneFolder(FlowFolder):
    """A benchmark of scenes, each a folder of numbered frames; pairs are consecutive frames (n, n + 1) of a
    scene, with the flow of frame n. scenes: keep only these scene folders (e.g. a validation split)."""

    def _scenes(self, folder: Path, scenes: list[str] | None) -> list[Path]:
        self._require_dir(folder.parent)
        self._require_dir(folder)
        found = sorted(d for d in folder.iterdir() if d.is_dir())
        if not found:
            raise self._none_found(folder, "scene folders")
        if scenes is None:
            return found
        unknown = sorted(set(scenes) - {d.name for d in found})
        if unknown:
            raise InputError(f"{self.name}: scenes {unknown} are not in {folder}; it has {[d.name for d in found]}")
        return [d for d in found if d.name in set(scenes)]

    def _pairs(self, frames: Path, pattern: re.Pattern) -> list[int]:
        """First frame numbers n of the pairs (n, n + 1) in one scene's folder."""
        ns = _numbers(frames, pattern)
        present = set(ns)
        return [n for n in ns if n + 1 in present]


class Sintel(SceneFolder):
    """MPI-Sintel (Butler et al. 2012, the "complete" archive): 1041 training pairs of 436x1024 in 23 scenes,
    and 552 test pairs without ground truth. split: "training" (or "train") / "test". pass_name: "clean" or
    "final". Samples add "occluded" bool (H, W) (training: the occlusion mask; test: all False); valid is False
    where Sintel's invalid mask is set.
    """

    name = "Sintel"
    layout = (
        "  ROOT/{training,test}/{clean,final}/{scene}/frame_{n:04d}.png\n"
        "  ROOT/training/flow/{scene}/frame_{n:04d}.flo   (the flow of frame n towards frame n + 1)\n"
        "  ROOT/training/occlusions/{scene}/frame_{n:04d}.png, ROOT/training/invalid/{scene}/frame_{n:04d}.png"
    )
    splits = {"training": "training", "train": "training", "test": "test"}
    test_splits = ("test",)

    def __init__(
        self,
        root: str | Path,
        split: str = "training",
        *,
        pass_name: str = "clean",
        scenes: list[str] | None = None,
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
        augment: FlowAugment | None = None,
    ) -> None:
        if pass_name not in ("clean", "final"):
            raise InputError(f"{self.name} pass_name must be 'clean' or 'final', got {pass_name!r}")
        self.pass_name, self.scenes = pass_name, None if scenes is None else list(scenes)
        super().__init__(root, split, flip=flip, max_items=max_items, image_hw=image_hw, augment=augment)

    def _list_items(self) -> list[FlowItem]:
        split_dir = self.root / self.folder
        items = []
        for scene in self._scenes(split_dir / self.pass_name, self.scenes):
            for n in self._pairs(scene, _SINTEL_FRAME):
                files = {FRAME1: scene / f"frame_{n:04d}.png", FRAME2: scene / f"frame_{n + 1:04d}.png"}
                if self.has_flow:
                    for role, folder, suffix in ((FLOW, "flow", "flo"), (OCCLUSIONS, "occlusions", "png")):
                        files[role] = split_dir / folder / scene.name / f"frame_{n:04d}.{suffix}"
                    files[INVALID] = split_dir / "invalid" / scene.name / f"frame_{n:04d}.png"
                items.append(FlowItem(files, str(files[FRAME1])))
        return items

    def submission_name(self, index: int) -> str:
        """Sintel's bundler reads ``{pass}/{scene}/frame_{n:04d}.flo``, the flow of frame n to frame n + 1."""
        first = self.items[index].files[FRAME1]
        return f"{self.pass_name}/{first.parent.name}/{first.stem}.flo"

    def read_gt(self, item: FlowItem) -> tuple[np.ndarray, np.ndarray]:
        flow, valid = read_flow_file(item.files[FLOW])  # (H, W, 2), (H, W)
        invalid = read_mask(item.files[INVALID])  # (H, W)
        self._check_hw(item.files[INVALID], invalid.shape, flow.shape[:2], item.files[FRAME1])
        valid &= ~invalid
        return np.where(valid[..., None], flow, np.float32(0)), valid

    def read_masks(self, item: FlowItem, hw: tuple[int, int]) -> dict[str, np.ndarray]:
        if not self.has_flow:
            return {"occluded": np.zeros(hw, dtype=bool)}
        occluded = read_mask(item.files[OCCLUSIONS])  # (H, W)
        self._check_hw(item.files[OCCLUSIONS], occluded.shape, hw, item.files[FRAME1])
        return {"occluded": occluded}


class Spring(SceneFolder):
    """Spring (Mehl et al. 2023): frames of 1080x1920, about 5000 per camera in 37 training scenes, and test
    scenes without ground truth. split: "train" / "test". camera: "left" or "right". Forward flow only (FW,
    frame n towards n + 1; the BW files are not read).

    The flow files are at twice the image resolution, with values in image pixels. "flow" / "valid" take every
    other pixel (``[::2, ::2]``; valid = finite there), as the benchmark's subsampling; full_gt=True adds
    "flow_2x" (2, 2H, 2W) and "valid_2x" (2H, 2W) for benchmark evaluation (then neither image_hw nor
    augmentation applies).
    """

    name = "Spring"
    layout = (
        "  ROOT/{train,test}/{scene:04d}/frame_{camera}/frame_{camera}_{n:04d}.png\n"
        "  ROOT/train/{scene:04d}/flow_FW_{camera}/flow_FW_{camera}_{n:04d}.flo5   (2H x 2W, NaN = invalid)"
    )
    splits = {"train": "train", "test": "test"}
    test_splits = ("test",)
    flow_factor = 2

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        camera: str = "left",
        full_gt: bool = False,
        scenes: list[str] | None = None,
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
        augment: FlowAugment | None = None,
    ) -> None:
        if camera not in ("left", "right"):
            raise InputError(f"{self.name} camera must be 'left' or 'right', got {camera!r}")
        if full_gt and (image_hw is not None or flip or (augment is not None and augment.active)):
            raise InputError(
                f"{self.name} full_gt=True is for benchmark evaluation at the files' resolution: it cannot be "
                f"combined with image_hw={image_hw}, flip={flip} or augment={augment}"
            )
        self.camera, self.full_gt, self.scenes = camera, full_gt, None if scenes is None else list(scenes)
        super().__init__(root, split, flip=flip, max_items=max_items, image_hw=image_hw, augment=augment)

    def _list_items(self) -> list[FlowItem]:
        split_dir, cam = self.root / self.folder, self.camera
        pattern = re.compile(rf"frame_{cam}_(\d{{4}})\.png")
        items = []
        for scene in self._scenes(split_dir, self.scenes):
            frames = scene / f"frame_{cam}"
            for n in self._pairs(frames, pattern):
                files = {FRAME1: frames / f"frame_{cam}_{n:04d}.png", FRAME2: frames / f"frame_{cam}_{n + 1:04d}.png"}
                if self.has_flow:
                    files[FLOW] = scene / f"flow_FW_{cam}" / f"flow_FW_{cam}_{n:04d}.flo5"
                items.append(FlowItem(files, str(files[FRAME1])))
        return items

    def gt_extras(self, flow: np.ndarray, valid: np.ndarray) -> dict[str, torch.Tensor]:
        if not self.full_gt:
            return {}
        flow_2x = torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1)))  # (2H, 2W, 2) -> (2, 2H, 2W)
        return {"flow_2x": flow_2x, "valid_2x": torch.from_numpy(np.ascontiguousarray(valid))}  # valid (2H, 2W)


class KITTIFlow2015(FlowFolder):
    """KITTI 2015 scene flow, the optical-flow part: 200 training pairs with sparse ground truth, 200 test
    pairs without. split: "training" (or "train") / "testing" (or "test"). gt: "occ" (all pixels with ground
    truth) or "noc" (non-occluded only).

    Images differ in size between pairs (375x1242, 370x1224, 376x1241 ...): each sample keeps its own size, so
    a batch of several needs image_hw (resize; the sparse flow stays exact with the nearest neighbour) or a
    random crop (``FlowAugment.crop_hw``, data.crop_size) no larger than the smallest image (370x1224).
    """

    name = "KITTIFlow2015"
    layout = (
        "  ROOT/{training,testing}/image_2/{n:06d}_10.png, {n:06d}_11.png\n"
        "  ROOT/training/flow_occ/{n:06d}_10.png, ROOT/training/flow_noc/{n:06d}_10.png   (16-bit KITTI flow PNG)"
    )
    splits = {"training": "training", "train": "training", "testing": "testing", "test": "testing"}
    test_splits = ("testing", "test")

    def __init__(
        self,
        root: str | Path,
        split: str = "training",
        *,
        gt: str = "occ",
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
        augment: FlowAugment | None = None,
    ) -> None:
        if gt not in ("occ", "noc"):
            raise InputError(f"{self.name} gt must be 'occ' (all pixels) or 'noc' (non-occluded), got {gt!r}")
        self.gt = gt
        super().__init__(root, split, flip=flip, max_items=max_items, image_hw=image_hw, augment=augment)

    def _list_items(self) -> list[FlowItem]:
        split_dir = self.root / self.folder
        images = split_dir / "image_2"
        for folder in (split_dir, images):
            self._require_dir(folder)
        items = []
        for n in _numbers(images, _KITTI_FRAME):
            files = {FRAME1: images / f"{n:06d}_10.png", FRAME2: images / f"{n:06d}_11.png"}
            if self.has_flow:
                files[FLOW] = split_dir / f"flow_{self.gt}" / f"{n:06d}_10.png"
            items.append(FlowItem(files, str(files[FRAME1])))
        return items

    def submission_name(self, index: int) -> str:
        """KITTI's devkit reads ``flow/{n:06d}_10.png`` (16-bit flow PNGs) from the submitted archive."""
        return f"flow/{self.items[index].files[FRAME1].name}"
