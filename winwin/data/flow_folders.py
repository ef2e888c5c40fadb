"""Readers for the real optical-flow datasets in their released folder layouts: the common base and FlyingChairs.

FlyingChairs    ROOT/data/{n:05d}_img1.ppm, _img2.ppm, _flow.flo   + ROOT/FlyingChairs_train_val.txt
FlyingThings3D  ``flow_folders_things``;  MPI-Sintel, Spring, KITTI 2015: ``flow_folders_benchmarks``

Samples are {"image1", "image2": float32 (3, H, W) normalised (transforms.to_tensor_image), "flow": float32
(2, H, W) (u along x, v along y, pixels), "valid": bool (H, W), "index": int, "path": str (the first frame)},
plus the dataset's own per-pixel maps (Sintel: "occluded" bool (H, W)); a dataset gives every sample the same
keys, so they collate. Flow without ground truth (non-finite, Middlebury's > 1e9 marks, KITTI's sparse holes,
Sintel's invalid mask) is 0 in "flow" with valid False, never NaN. A split without ground truth (Sintel's and
KITTI's test sets) yields zero flow, valid False everywhere, and the dataset's ``has_flow`` is False.

As in ``depth_folders.py``, the pairs are listed at construction, every partner file of every pair must exist,
and the sizes of the first pair are checked (image headers, the flow file read), so a wrong root fails before
training; a later pair whose sizes disagree raises ``BadFileError`` when it is loaded.

image_hw resizes on load: the frames bilinearly, the flow and the masks with the nearest neighbour (no flow is
blended with a hole: sparse KITTI stays exact) and u scaled by new_w / old_w, v by new_h / old_h. augment (a
``FlowAugment``) crops, flips and jitters training samples; flip=True is its horizontal flip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import BadFileError, InputError
from .flow_augment import FlowArrays, FlowAugment, make_augment
from .flow_io import UNKNOWN_FLOW, read_flo, read_flo5, read_kitti_flow, read_pfm_flow
from .layout import require_dir, spread
from .transforms import decode_image, open_image, to_tensor_image

FRAME1, FRAME2, FLOW = "first frame", "second frame", "flow"  # roles of a pair's files, for messages


@dataclass
class FlowItem:
    """The files of one pair: role -> path, the first frame first; ``source`` says where the pair was listed."""

    files: dict[str, Path]
    source: str = ""


# -- files ----------------------------------------------------------------------------------------------------
def read_rgb(path: Path) -> np.ndarray:
    """Image file -> uint8 (H, W, 3); a file that does not decode is a BadFileError."""
    with open_image(path) as im:
        return decode_image(path, im, "RGB")  # (H, W, 3)


def read_mask(path: Path) -> np.ndarray:
    """A black / white mask PNG (Sintel's occlusions, invalid) -> bool (H, W), white = True."""
    with open_image(path) as im:
        return decode_image(path, im, "L") > 127  # (H, W)


def image_hw(path: Path) -> tuple[int, int]:
    """(H, W) from an image file's header, without decoding."""
    with open_image(path) as im:
        return im.height, im.width


def read_flow_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Any supported flow file -> (flow float32 (H, W, 2) with invalid pixels 0, valid bool (H, W)).

    .flo (Chairs, Sintel), .pfm (FlyingThings3D), .flo5 (Spring, NaN = invalid), .png (KITTI 16-bit).
    A pixel is invalid where the file says so, where the flow is not finite or above Middlebury's 1e9 mark.
    """
    suffix = path.suffix.lower()
    if suffix == ".png":
        flow, valid = read_kitti_flow(path)
    else:
        readers = {".flo": read_flo, ".pfm": read_pfm_flow, ".flo5": read_flo5}
        if suffix not in readers:
            raise BadFileError(path, f"is not a flow file this reader knows (.flo, .pfm, .flo5, .png): {suffix!r}")
        flow = readers[suffix](path)
        valid = np.ones(flow.shape[:2], dtype=bool)
    valid = valid & (np.abs(flow) < UNKNOWN_FLOW).all(axis=-1)  # NaN compares False: invalid too
    flow = np.where(valid[..., None], flow, np.float32(0)).astype(np.float32)  # (H, W, 2)
    return flow, valid


@lru_cache(maxsize=4096)
def _names(folder: Path) -> frozenset[str]:
    """File names in a folder (empty if it is not one): one listing answers every partner check in it."""
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return frozenset()


def _exists(path: Path) -> bool:
    return path.name in _names(path.parent)


# -- resizing -------------------------------------------------------------------------------------------------
def _nearest(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each of ``n_out`` samples over ``n_in`` (pixel centres, nearest neighbour)."""
    return np.minimum(((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64), n_in - 1)


def _bilinear(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) -> (h, w, 3)."""
    return np.array(Image.fromarray(rgb).resize(hw[::-1], Image.Resampling.BILINEAR))


def resize_sample(sample: FlowArrays, hw: tuple[int, int]) -> FlowArrays:
    """Frames bilinear; flow, valid and masks nearest, with u scaled by w / W and v by h / H."""
    (H, W), (h, w) = sample.hw, hw
    if (h, w) == (H, W):
        return sample
    rows, cols = _nearest(H, h), _nearest(W, w)
    near = lambda a: a[rows][:, cols]  # (H, W, ...) -> (h, w, ...)
    flow = near(sample.flow) * np.array([w / W, h / H], dtype=np.float32)  # (h, w, 2) in the new pixels
    masks = {k: near(m) for k, m in sample.masks.items()}
    return FlowArrays(_bilinear(sample.rgb1, hw), _bilinear(sample.rgb2, hw), flow, near(sample.valid), masks)


# -- common dataset -------------------------------------------------------------------------------------------
class FlowFolder(Dataset):
    """Frame pairs with flow ground truth; subclasses list their pairs (``_list_items``).

    flip: random horizontal flip (probability 1/2, u negated), the same as ``augment.hflip``. max_items: an
    evenly spread subset of that many pairs, taken before the checks. image_hw: resize to this (H, W) on load.
    augment: a ``FlowAugment`` (random crop, flips, colour jitter), for training.
    """

    name = "flow"
    layout = ""  # the expected layout, for error messages
    splits: dict[str, str] = {}  # accepted split name -> the dataset's folder or code for it
    test_splits: tuple[str, ...] = ()  # splits without ground truth
    flow_factor = 1  # flow file resolution / image resolution (Spring: 2)

    def __init__(
        self,
        root: str | Path,
        split: str,
        *,
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
        augment: FlowAugment | None = None,
    ) -> None:
        if split not in self.splits:
            raise InputError(f"{self.name} splits are {', '.join(map(repr, self.splits))}; got {split!r}")
        if max_items is not None and max_items < 1:
            raise InputError(f"max_items must be a positive number of pairs or None (all), got {max_items}")
        if image_hw is not None and (len(image_hw) != 2 or min(image_hw) < 1):
            raise InputError(f"image_hw must be a positive (H, W) or None (keep the file's size), got {image_hw}")
        self.split, self.folder, self.flip, self.max_items = split, self.splits[split], flip, max_items
        self.has_flow = split not in self.test_splits
        self.image_hw = None if image_hw is None else (int(image_hw[0]), int(image_hw[1]))
        self.augment = make_augment(augment, flip)
        self.root = Path(root)
        if not self.root.is_dir():
            raise BadFileError(self.root, f"is not a folder; {self.name} expects the layout\n{self.layout}")
        _names.cache_clear()  # listings of an earlier dataset may be stale
        items = self._list_items()
        if not items:
            raise BadFileError(self.root, f"holds no {split!r} pairs; {self.name} expects the layout\n{self.layout}")
        self.items: list[FlowItem] = spread(items, max_items)
        for item in self.items:
            self._check_partners(item)
        self._check_sizes(self.items[0])
        _names.cache_clear()

    # -- layout, one override per dataset --------------------------------------------------------------------
    def _list_items(self) -> list[FlowItem]:
        """The pairs in order, not empty; their partner files may be missing (checked after)."""
        raise NotImplementedError

    def _require_dir(self, folder: Path) -> None:
        require_dir(folder, self.name, self.layout)

    def _none_found(self, folder: Path, what: str) -> BadFileError:
        return BadFileError(folder, f"holds no {what}; {self.name} expects the layout\n{self.layout}")

    # -- checks ----------------------------------------------------------------------------------------------
    def _check_partners(self, item: FlowItem) -> None:
        present = [p for p in item.files.values() if _exists(p)]
        for role, path in item.files.items():
            if _exists(path):
                continue
            if present:
                anchor = present[0]
                where = f"beside {anchor.name}" if anchor.parent == path.parent else f"for {anchor}"
            else:
                where = f"for {item.source}"
            raise BadFileError(
                path, f"is missing: {self.name} expected the {role} here, {where}; the layout is\n{self.layout}"
            )

    def _check_sizes(self, item: FlowItem) -> None:
        """Frames and masks of equal size (headers), the flow file ``flow_factor`` times it (read)."""
        first = item.files[FRAME1]
        hw = image_hw(first)
        for role, path in item.files.items():
            if role == FLOW:
                self._check_hw(path, read_flow_file(path)[0].shape[:2], hw, first, self.flow_factor)
            elif role != FRAME1:
                self._check_hw(path, image_hw(path), hw, first)

    def _check_hw(self, path: Path, got: tuple[int, ...], hw: tuple[int, int], first: Path, factor: int = 1) -> None:
        """``path`` (of size ``got``) must be ``factor`` times the first frame's (H, W)."""
        expected = (hw[0] * factor, hw[1] * factor)
        if tuple(got) != expected:
            times = f" ({factor} x the frame's)" if factor != 1 else ""
            raise BadFileError(
                path,
                f"is {got[1]}x{got[0]} (WxH) but {self.name} expected {expected[1]}x{expected[0]}{times}: the first "
                f"frame {first} is {hw[1]}x{hw[0]}",
            )

    # -- loading ---------------------------------------------------------------------------------------------
    def read_gt(self, item: FlowItem) -> tuple[np.ndarray, np.ndarray]:
        """(flow float32 (h, w, 2), valid bool (h, w)) at the flow file's resolution."""
        return read_flow_file(item.files[FLOW])

    def read_masks(self, item: FlowItem, hw: tuple[int, int]) -> dict[str, np.ndarray]:
        """The dataset's extra per-pixel maps, each bool (H, W), the same keys in every sample (Sintel: occluded)."""
        return {}

    def raw(self, index: int) -> FlowArrays:
        """Pair ``index`` as arrays at the frames' resolution, before resizing or augmenting."""
        return self._load(index)[0]

    def _load(self, index: int) -> tuple[FlowArrays, dict[str, torch.Tensor]]:
        """(the arrays of pair ``index``, tensors that resizing and augmentation leave alone: ``gt_extras``)."""
        item = self.items[index]
        rgb1, rgb2 = read_rgb(item.files[FRAME1]), read_rgb(item.files[FRAME2])  # (H, W, 3) each
        hw, f = rgb1.shape[:2], self.flow_factor
        self._check_hw(item.files[FRAME2], rgb2.shape[:2], hw, item.files[FRAME1])
        if self.has_flow:
            flow, valid = self.read_gt(item)  # (f H, f W, 2), (f H, f W)
            self._check_hw(item.files[FLOW], flow.shape[:2], hw, item.files[FRAME1], f)
        else:
            flow, valid = np.zeros((f * hw[0], f * hw[1], 2), dtype=np.float32), np.zeros((f * hw[0], f * hw[1]), bool)
        extras = self.gt_extras(flow, valid)
        flow, valid = flow[::f, ::f], valid[::f, ::f]  # (H, W, 2), (H, W): every f-th pixel (all when f = 1)
        return FlowArrays(rgb1, rgb2, flow, valid, self.read_masks(item, hw)), extras

    def gt_extras(self, flow: np.ndarray, valid: np.ndarray) -> dict[str, torch.Tensor]:
        """Tensors added to the sample from the ground truth at the file's resolution (Spring's full_gt)."""
        return {}

    def submission_name(self, index: int) -> str:
        """Where a benchmark submission keeps pair ``index``'s prediction (a path relative to its folder, with
        the file type as suffix); only the benchmarks' test sets have one."""
        raise InputError(f"{self.name} has no benchmark submission format (Sintel and KITTI 2015 do)")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int | str]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{self.name} {self.split!r} has {n} pairs, index {index} is out of range")
        index %= n
        sample, extras = self._load(index)
        if self.image_hw is not None:
            sample = resize_sample(sample, self.image_hw)
        if self.augment is not None:
            # torch's generator: differs in each DataLoader worker, reproducible under torch.manual_seed
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
            sample = self.augment(sample, rng)
        out: dict[str, torch.Tensor | int | str] = {
            "image1": to_tensor_image(sample.rgb1),  # (3, H, W)
            "image2": to_tensor_image(sample.rgb2),
            "flow": torch.from_numpy(np.ascontiguousarray(sample.flow.transpose(2, 0, 1))),  # (H, W, 2) -> (2, H, W)
            "valid": torch.from_numpy(np.ascontiguousarray(sample.valid)),  # (H, W) bool
        }
        out.update({k: torch.from_numpy(np.ascontiguousarray(m)) for k, m in sample.masks.items()})
        out.update(extras)
        out.update(index=index, path=str(self.items[index].files[FRAME1]))
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, pairs={len(self)}, "
            f"image_hw={self.image_hw}, augment={self.augment})"
        )


# -- FlyingChairs ---------------------------------------------------------------------------------------------
CHAIRS_SPLIT_FILE = "FlyingChairs_train_val.txt"
CHAIRS_SPLIT_URL = "https://lmb.informatik.uni-freiburg.de/resources/datasets/FlyingChairs/FlyingChairs_train_val.txt"


class FlyingChairs(FlowFolder):
    """FlyingChairs (Dosovitskiy et al. 2015): 22872 pairs of 384x512, dense flow; ``split`` "train" (22232)
    or "val" (640) from the official split file (line n: 1 = pair n is train, 2 = val).

    The pairs may sit in ROOT/data (the release's layout) or directly in ROOT. split_file: the split file,
    default ROOT/FlyingChairs_train_val.txt (download it from the FlowNet page if the release lacks it).
    """

    name = "FlyingChairs"
    layout = (
        "  ROOT/data/{n:05d}_img1.ppm, {n:05d}_img2.ppm, {n:05d}_flow.flo   (n = 1..22872; or directly in ROOT)\n"
        f"  ROOT/{CHAIRS_SPLIT_FILE}   (one line per pair: 1 = train, 2 = val)"
    )
    splits = {"train": "1", "val": "2"}

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        split_file: str | Path | None = None,
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
        augment: FlowAugment | None = None,
    ) -> None:
        self.split_file = Path(root) / CHAIRS_SPLIT_FILE if split_file is None else Path(split_file)
        super().__init__(root, split, flip=flip, max_items=max_items, image_hw=image_hw, augment=augment)

    def _list_items(self) -> list[FlowItem]:
        data = self.root / "data" if (self.root / "data").is_dir() else self.root
        if not self.split_file.is_file():
            raise BadFileError(
                self.split_file,
                f"is missing: the official FlyingChairs train/val split (one line per pair, 1 = train, 2 = val; "
                f"download it from {CHAIRS_SPLIT_URL}); {self.name} expects the layout\n{self.layout}",
            )
        codes = self.split_file.read_text().split()  # one code per pair, pair n on line n
        bad = sorted(set(codes) - {"1", "2"})
        if bad:
            raise BadFileError(self.split_file, f"holds {bad[:3]}: expected one 1 (train) or 2 (val) per line")
        listed = sum(1 for name in _names(data) if name.endswith("_img1.ppm"))
        if listed != len(codes):
            raise BadFileError(
                self.split_file,
                f"lists {len(codes)} pairs but {data} holds {listed} *_img1.ppm files: the split file must have one "
                f"line per pair ({self.name} has 22872); is ROOT the folder of the release?",
            )
        names = ("img1.ppm", "img2.ppm", "flow.flo")
        return [
            FlowItem(
                {role: data / f"{n:05d}_{name}" for role, name in zip((FRAME1, FRAME2, FLOW), names)},
                f"pair {n} (line {n} of {self.split_file})",
            )
            for n, code in enumerate(codes, start=1)
            if code == self.folder
        ]
