"""Readers for real monocular-depth datasets in their standard layouts.

NYUv2 labeled  ROOT/nyu_depth_v2_labeled.mat  (1449 RGB-D pairs of 480x640, filled-in depth, MATLAB v7.3)
               ROOT/splits.mat                 (the official split: 795 train, 654 test)
PNG export     ROOT/{split}/rgb/{stem}.png|.jpg
               ROOT/{split}/depth/{stem}.png   (16-bit, millimetres by default)
KITTI depth    ROOT/{split}/{drive}/proj_depth/groundtruth/image_02/{frame}.png   (uint16 / 256, 0 = no point)
               IMAGE_ROOT/{date}/{drive}/image_02/data/{frame}.png                (the KITTI raw data)

Samples are {"image": float32 (3, H, W) normalised (transforms.to_tensor_image), "depth": float32 (H, W) metres,
"index": int, "path": str}. An unknown depth is 0, never NaN: the valid mask is depth > 0, and an evaluation
keeps depths within the dataset's ``min_depth``..``max_depth``. As in ``folders.py``, the layout, the partner of
every file and the sizes (read from the headers, without decoding pixels) are checked at construction, so a
wrong root fails before training starts.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import BadFileError, InputError
from .depth_io import (
    DECODE_ERRORS,
    KITTI_SCALE,
    NYU_SCALE,
    NYUv2Mat,
    check_scale,
    depth_png_hw,
    read_depth_png,
    read_nyu_splits,
)
from .layout import require_dir, spread
from .transforms import hflip, load_image, to_tensor_image

IMAGE_SUFFIXES = (".png", ".jpg")
NYU_SPLITS = {"train": "train", "test": "test", "val": "test"}  # "val" = "test", the usual practice


# -- loading helpers ------------------------------------------------------------------------------------------
def _rgb_tensor(rgb: np.ndarray, size_hw: tuple[int, int] | None) -> torch.Tensor:
    """uint8 (H, W, 3) -> normalised (3, h, w), resized bilinearly like ``load_image``."""
    if size_hw is not None and rgb.shape[:2] != size_hw:
        rgb = np.array(Image.fromarray(rgb).resize(size_hw[::-1], Image.Resampling.BILINEAR))  # (h, w, 3)
    return to_tensor_image(rgb)


def _image_file(path: Path, size_hw: tuple[int, int] | None) -> torch.Tensor:
    """Image file -> normalised (3, h, w); a file that does not decode is a BadFileError."""
    try:
        return load_image(path, size_hw)
    except DECODE_ERRORS as e:
        raise BadFileError(path, f"cannot be decoded as an image (truncated or damaged?): {e}") from None


def _depth_tensor(depth: np.ndarray, size_hw: tuple[int, int] | None) -> torch.Tensor:
    """float32 (H, W) metres -> (h, w); nearest neighbour never blends a depth with an unknown 0."""
    if size_hw is not None and depth.shape != size_hw:
        depth = np.array(Image.fromarray(depth).resize(size_hw[::-1], Image.Resampling.NEAREST))  # (h, w)
    return torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))


def _image_hw(path: Path) -> tuple[int, int]:
    """(H, W) from an image file's header, without decoding."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (*DECODE_ERRORS, Image.DecompressionBombError) as e:
        raise BadFileError(path, f"is not a readable image ({e})") from None


# -- common dataset -------------------------------------------------------------------------------------------
class DepthDataset(Dataset):
    """Image / depth samples; subclasses list their items at construction and implement ``_load``.

    flip: random joint horizontal flip with probability 1/2 (training). max_items: an evenly spread subset of
    that many items, taken before the checks. image_hw: resize to this (H, W) on load, image bilinear, depth
    nearest. min_depth / max_depth: the usual evaluation range of the dataset, in metres.
    """

    name = "depth"
    layout = ""  # the expected layout, for error messages
    min_depth = 1e-3
    max_depth = 10.0

    def __init__(self, split: str, *, flip: bool, max_items: int | None, image_hw: tuple[int, int] | None) -> None:
        if max_items is not None and max_items < 1:
            raise InputError(f"max_items must be a positive number of samples or None (all), got {max_items}")
        if image_hw is not None and (len(image_hw) != 2 or min(image_hw) < 1):
            raise InputError(f"image_hw must be a positive (H, W) or None (keep the file's size), got {image_hw}")
        self.split, self.flip, self.max_items = split, flip, max_items
        self.image_hw = None if image_hw is None else (int(image_hw[0]), int(image_hw[1]))

    def __len__(self) -> int:
        raise NotImplementedError

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        """(image (3, H, W) normalised, depth (H, W) metres, path), both at ``image_hw`` if set."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int | str]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{self.name} {self.split!r} has {n} samples, index {index} is out of range")
        image, depth, path = self._load(index % n)  # (3, H, W), (H, W)
        if self.flip and bool(torch.rand(()) < 0.5):
            image, depth = hflip(image, depth)
        return {"image": image, "depth": depth, "index": index % n, "path": path}

    def _require_dir(self, folder: Path) -> None:
        require_dir(folder, self.name, self.layout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, items={len(self)}, flip={self.flip})"


class NYUv2Labeled(DepthDataset):
    """The 1449 labeled NYUv2 images with the official split; ``split`` "train" (795) or "test" (654).

    "val" is an alias of "test", as the usual practice evaluates on the test split. ``path`` is
    ``ROOT/nyu_depth_v2_labeled.mat/{i:04d}`` with i the 0-based index of the image in the file.
    """

    name = "nyuv2"
    layout = (
        "  ROOT/nyu_depth_v2_labeled.mat  (MATLAB v7.3: images 480x640x3x1449, depths 480x640x1449)\n"
        "  ROOT/splits.mat                (trainNdxs 795x1, testNdxs 654x1, 1-based)"
    )
    min_depth, max_depth = 1e-3, 10.0

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(split, flip=flip, max_items=max_items, image_hw=image_hw)
        if split not in NYU_SPLITS:
            raise InputError(f"NYUv2 splits are 'train' (795 images) and 'test' (654; 'val' = 'test'), got {split!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise BadFileError(self.root, f"is not a folder; {self.name} expects the layout\n{self.layout}")
        mat_path, splits_path = self.root / "nyu_depth_v2_labeled.mat", self.root / "splits.mat"
        missing = [p for p in (mat_path, splits_path) if not p.is_file()]
        if missing:
            also = f" (so is {missing[1]})" if len(missing) > 1 else ""
            raise BadFileError(missing[0], f"is missing{also}; {self.name} expects the layout\n{self.layout}")
        self.mat = NYUv2Mat(mat_path)
        indices = read_nyu_splits(splits_path, len(self.mat))[NYU_SPLITS[split]]
        self.indices: list[int] = spread(indices.tolist(), max_items)

    def __len__(self) -> int:
        return len(self.indices)

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        i = self.indices[index]
        rgb, depth = self.mat.read(i)  # (480, 640, 3) uint8, (480, 640) metres
        return _rgb_tensor(rgb, self.image_hw), _depth_tensor(depth, self.image_hw), f"{self.mat.path}/{i:04d}"


# -- image / depth-PNG pairs ----------------------------------------------------------------------------------
class DepthPairs(DepthDataset):
    """Image files paired with 16-bit depth PNGs (depth = value / scale); subclasses list the pairs."""

    scale = NYU_SCALE

    def __init__(
        self, root: str | Path, split: str, *, flip: bool, max_items: int | None, image_hw: tuple[int, int] | None
    ) -> None:
        super().__init__(split, flip=flip, max_items=max_items, image_hw=image_hw)
        self.root = Path(root)
        if not self.root.is_dir():
            raise BadFileError(self.root, f"is not a folder; {self.name} expects the layout\n{self.layout}")
        self.pairs: list[tuple[Path, Path]] = spread(self._list_pairs(), max_items)
        for image_path, depth_path in self.pairs:
            self._check_pair(image_path, depth_path)

    def _list_pairs(self) -> list[tuple[Path, Path]]:
        """Sorted (image, depth) paths; the partner of the listed file may be missing (checked after)."""
        raise NotImplementedError

    def _missing_hint(self, path: Path) -> str:
        return ""

    def _check_pair(self, image_path: Path, depth_path: Path) -> None:
        for path, what, other, other_what in (
            (depth_path, "depth map", image_path, "image"),
            (image_path, "image", depth_path, "depth map"),
        ):
            if not path.is_file():
                raise BadFileError(
                    path,
                    f"is missing: the {other_what} {other} has no {what}; {self.name} expects the layout\n"
                    f"{self.layout}{self._missing_hint(path)}",
                )
        image_hw, depth_hw = _image_hw(image_path), depth_png_hw(depth_path)
        if image_hw != depth_hw:
            raise BadFileError(
                depth_path,
                f"is {depth_hw[1]}x{depth_hw[0]} (WxH) but its image {image_path} is {image_hw[1]}x{image_hw[0]}; "
                "an image and its depth map must have the same size",
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        image_path, depth_path = self.pairs[index]
        image = _image_file(image_path, self.image_hw)  # (3, H, W)
        depth = _depth_tensor(read_depth_png(depth_path, self.scale), self.image_hw)  # (H, W)
        return image, depth, str(image_path)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(root={str(self.root)!r}, split={self.split!r}, pairs={len(self)}, flip={self.flip})"


class DepthPNGFolder(DepthPairs):
    """The common PNG export (e.g. of NYUv2): RGB .png or .jpg and 16-bit depth PNGs of the same stem.

    scale: PNG units per metre (1000: millimetres). min_depth / max_depth: the evaluation range (NYUv2's).
    """

    name = "depth_png"
    layout = (
        "  ROOT/{split}/rgb/{stem}.png|.jpg\n  ROOT/{split}/depth/{stem}.png  (16-bit single-channel, depth x scale)"
    )

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        scale: float = NYU_SCALE,
        *,
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
    ) -> None:
        check_scale(scale)
        if not 0 < min_depth < max_depth:
            raise InputError(f"expected 0 < min_depth < max_depth (metres), got {min_depth} and {max_depth}")
        self.scale, self.min_depth, self.max_depth = float(scale), float(min_depth), float(max_depth)
        super().__init__(root, split, flip=flip, max_items=max_items, image_hw=image_hw)

    def _list_pairs(self) -> list[tuple[Path, Path]]:
        split_dir = self.root / self.split
        rgb_dir, depth_dir = split_dir / "rgb", split_dir / "depth"
        for folder in (split_dir, rgb_dir, depth_dir):
            self._require_dir(folder)
        images = sorted(p for p in rgb_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise BadFileError(rgb_dir, f"holds no .png or .jpg images; {self.name} expects the layout\n{self.layout}")
        by_stem: dict[str, Path] = {}
        for image in images:
            if image.stem in by_stem:
                raise BadFileError(
                    image, f"and {by_stem[image.stem].name} share a stem: which image goes with depth/{image.stem}.png?"
                )
            by_stem[image.stem] = image
        return [(image, depth_dir / f"{image.stem}.png") for image in images]


_DRIVE = re.compile(r"\d{4}_\d{2}_\d{2}_")  # 2011_09_26_drive_0001_sync: the date names the raw-data folder


class KITTIDepth(DepthPairs):
    """The KITTI depth benchmark (data_depth_annotated) with images from the KITTI raw data.

    split: "train" or "val" (the folders of the benchmark). camera: "image_02" (left) or "image_03" (right).
    Depth = uint16 / 256 with 0 where no LiDAR point projects (most pixels). Images may be .png or .jpg.
    """

    name = "kitti"
    layout = (
        "  ROOT/{split}/{drive}/proj_depth/groundtruth/{camera}/{frame}.png\n"
        "  IMAGE_ROOT/{date}/{drive}/{camera}/data/{frame}.png   (date: the first 10 characters of the drive)"
    )
    min_depth, max_depth = 1e-3, 80.0
    scale = KITTI_SCALE

    def __init__(
        self,
        root: str | Path,
        split: str,
        image_root: str | Path,
        *,
        camera: str = "image_02",
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
    ) -> None:
        if camera not in ("image_02", "image_03"):
            raise InputError(f"camera must be 'image_02' (left colour) or 'image_03' (right colour), got {camera!r}")
        self.camera, self.image_root = camera, Path(image_root)
        if not self.image_root.is_dir():
            raise BadFileError(self.image_root, f"is not a folder; {self.name} expects the layout\n{self.layout}")
        super().__init__(root, split, flip=flip, max_items=max_items, image_hw=image_hw)

    def _list_pairs(self) -> list[tuple[Path, Path]]:
        split_dir = self.root / self.split
        self._require_dir(split_dir)
        depths = sorted(split_dir.glob(f"*/proj_depth/groundtruth/{self.camera}/*.png"))
        if not depths:
            hint = ""
            if next(split_dir.glob("*/proj_depth/velodyne_raw"), None) is not None:
                hint = (
                    "\n(proj_depth/velodyne_raw is the sparse LiDAR input; the ground truth is proj_depth/groundtruth)"
                )
            raise BadFileError(split_dir, f"holds no depth maps; {self.name} expects the layout\n{self.layout}{hint}")
        return [(self._image_path(depth), depth) for depth in depths]

    def _image_path(self, depth_path: Path) -> Path:
        drive_dir = depth_path.parents[3]  # ROOT/{split}/{drive}
        if not _DRIVE.match(drive_dir.name):
            raise BadFileError(
                drive_dir,
                "is not named like a KITTI drive (2011_09_26_drive_0001_sync): its first 10 characters "
                "are the date that names the raw-data folder of its images",
            )
        data_dir = self.image_root / drive_dir.name[:10] / drive_dir.name / self.camera / "data"
        jpg = data_dir / f"{depth_path.stem}.jpg"
        return jpg if jpg.is_file() else data_dir / depth_path.name  # .png, or .jpg (e.g. monodepth2's)

    def _missing_hint(self, path: Path) -> str:
        if not path.is_relative_to(self.image_root):  # depth maps are listed, so only images go missing
            return ""
        drive = path.parents[2]  # IMAGE_ROOT/{date}/{drive}
        undated = self.image_root / drive.name / self.camera / "data" / path.name
        if undated.is_file():
            return f"\n(found {undated}: the raw data must sit in its date folder, {drive.parent})"
        if not drive.is_dir():
            return f"\n(the raw-data drive {drive} is missing: download {drive.name} from the KITTI raw data)"
        return ""
