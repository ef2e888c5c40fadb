"""Readers for real segmentation datasets in their standard folder layouts (19 classes, train-id PNGs).

Cityscapes:  ROOT/leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png
             ROOT/gtFine/{split}/{city}/{stem}_gtFine_labelTrainIds.png
BDD100k:     ROOT/images/10k/{split}/{stem}.jpg
             ROOT/labels/sem_seg/masks/{split}/{stem}.png

Pairs are listed and checked when the dataset is built (missing folders, images without a label, an image
whose size differs from its label's, read from the file headers without decoding pixels), so a wrong root
fails before training starts rather than at some later step.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from .layout import spread
from .palette import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, RGB
from .transforms import IGNORE_INDEX, hflip, load_image, load_label


class SegmentationFolder(Dataset):
    """Image / train-id label pairs on disk; ``__getitem__`` -> {"image", "label", "index", "path"}.

    flip: random joint horizontal flip (training). max_items: an evenly spread subset of that many pairs,
    taken before the checks. image_hw: resize (image bilinear, label nearest) to this (H, W) when loading.
    """

    name = "folder"
    layout = ""  # the expected layout, for error messages
    classes: list[str] = list(CITYSCAPES_CLASSES)
    palette: tuple[RGB, ...] = CITYSCAPES_PALETTE
    num_classes: int = len(CITYSCAPES_CLASSES)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
    ) -> None:
        self.root, self.split, self.flip = Path(root), split, flip
        self.image_hw = None if image_hw is None else (int(image_hw[0]), int(image_hw[1]))
        if max_items is not None and max_items < 1:
            raise ValueError(f"max_items must be a positive number of pairs or None (all), got {max_items}")
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name} root {self.root} is not a folder; expected the layout\n{self.layout}")
        image_dir, label_dir = self._split_dirs()
        for d in (image_dir, label_dir):
            if not d.is_dir():
                found = sorted(p.name for p in d.parent.iterdir() if p.is_dir()) if d.parent.is_dir() else []
                raise FileNotFoundError(
                    f"{self.name}: folder {d} for split {split!r} is missing (splits found next to it: {found}); "
                    f"expected the layout\n{self.layout}"
                )
        images = sorted(self._list_images(image_dir))
        if not images:
            raise FileNotFoundError(f"{self.name}: no images found in {image_dir}; expected the layout\n{self.layout}")
        images = spread(images, max_items)
        self.pairs: list[tuple[Path, Path]] = [(im, self._label_path(im, image_dir, label_dir)) for im in images]
        for image_path, label_path in self.pairs:
            self._check_pair(image_path, label_path)

    # -- layout, one override per dataset --------------------------------------------------------------------
    def _split_dirs(self) -> tuple[Path, Path]:
        raise NotImplementedError

    def _list_images(self, image_dir: Path) -> list[Path]:
        raise NotImplementedError

    def _label_path(self, image_path: Path, image_dir: Path, label_dir: Path) -> Path:
        raise NotImplementedError

    def _missing_label_hint(self, label_path: Path) -> str:
        return ""

    # -- checks ----------------------------------------------------------------------------------------------
    def _check_pair(self, image_path: Path, label_path: Path) -> None:
        if not label_path.is_file():
            raise FileNotFoundError(
                f"{self.name}: image {image_path} has no label file: expected {label_path}"
                + self._missing_label_hint(label_path)
            )
        with Image.open(image_path) as im, Image.open(label_path) as lab:  # headers only, no pixel decoding
            image_size, label_size = im.size, lab.size
        if image_size != label_size:
            raise ValueError(
                f"{self.name}: image {image_path} is {image_size[0]}x{image_size[1]} (WxH) but its label "
                f"{label_path} is {label_size[0]}x{label_size[1]}; an image and its label map must have the same size"
            )

    def _check_values(self, label: torch.Tensor, label_path: Path) -> None:
        bad = ((label >= self.num_classes) & (label != IGNORE_INDEX)) | (label < 0)
        if bool(bad.any()):
            values = torch.unique(label[bad])[:5].tolist()
            raise ValueError(
                f"{self.name}: label {label_path} holds values {values} outside train ids 0..{self.num_classes - 1} "
                f"and {IGNORE_INDEX} (ignore); is it a label-id map rather than a train-id map?"
            )

    # -- Dataset ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int | str]:
        image_path, label_path = self.pairs[index]
        image = load_image(image_path, self.image_hw)  # (3, H, W) float32, normalised
        label = load_label(label_path, self.image_hw)  # (H, W) int64
        self._check_values(label, label_path)
        if self.flip and bool(torch.rand(()) < 0.5):
            image, label = hflip(image, label)
        return {"image": image, "label": label, "index": index % len(self.pairs), "path": str(image_path)}

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(root={str(self.root)!r}, split={self.split!r}, pairs={len(self)}, flip={self.flip})"


class CityscapesSegmentation(SegmentationFolder):
    name = "cityscapes"
    layout = (
        "  ROOT/leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png\n"
        "  ROOT/gtFine/{split}/{city}/{stem}_gtFine_labelTrainIds.png"
    )

    def _split_dirs(self) -> tuple[Path, Path]:
        return self.root / "leftImg8bit" / self.split, self.root / "gtFine" / self.split

    def _list_images(self, image_dir: Path) -> list[Path]:
        return list(image_dir.glob("*/*_leftImg8bit.png"))

    def _label_path(self, image_path: Path, image_dir: Path, label_dir: Path) -> Path:
        stem = image_path.name[: -len("_leftImg8bit.png")]
        return label_dir / image_path.parent.name / f"{stem}_gtFine_labelTrainIds.png"

    def _missing_label_hint(self, label_path: Path) -> str:
        label_ids = label_path.with_name(label_path.name.replace("_labelTrainIds", "_labelIds"))
        if label_ids.is_file():
            return (
                f" ({label_ids.name} exists: train-id maps are made from it by cityscapesScripts' "
                "createTrainIdLabelImgs)"
            )
        return ""


class BDD100kSegmentation(SegmentationFolder):
    name = "bdd100k"
    layout = "  ROOT/images/10k/{split}/{stem}.jpg\n  ROOT/labels/sem_seg/masks/{split}/{stem}.png"

    def _split_dirs(self) -> tuple[Path, Path]:
        return self.root / "images" / "10k" / self.split, self.root / "labels" / "sem_seg" / "masks" / self.split

    def _list_images(self, image_dir: Path) -> list[Path]:
        return list(image_dir.glob("*.jpg"))

    def _label_path(self, image_path: Path, image_dir: Path, label_dir: Path) -> Path:
        return label_dir / f"{image_path.stem}.png"
