"""Class names and colours, and label maps rendered as RGB images (ignore pixels shown black)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
import torch

from .transforms import IGNORE_INDEX

RGB = tuple[int, int, int]

# The 19 Cityscapes evaluation classes in train-id order (cityscapesScripts labels.py); BDD100k uses them too.
CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip
CITYSCAPES_PALETTE: tuple[RGB, ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip


def make_palette(n: int) -> tuple[RGB, ...]:
    """``n`` distinct, deterministic, non-black colours for any other number of classes.

    Hues step by the golden ratio so neighbouring ids differ strongly; saturation and value cycle so that
    large palettes do not repeat a colour.
    """
    if n < 1:
        raise ValueError(f"a palette needs at least one class, got n={n}")
    golden = 0.618033988749895
    colours = []
    for i in range(n):
        sat = (0.85, 0.55, 1.0)[i % 3]
        val = (0.95, 0.75, 0.55)[(i // 3) % 3]
        r, g, b = colorsys.hsv_to_rgb((i * golden) % 1.0, sat, val)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return tuple(colours)


def colorize(label: np.ndarray | torch.Tensor, palette: Sequence[RGB] | np.ndarray) -> np.ndarray:
    """Integer label map (H, W) -> uint8 RGB (H, W, 3); ``IGNORE_INDEX`` pixels are black."""
    if isinstance(label, torch.Tensor):
        label = label.detach().cpu().numpy()
    label = np.asarray(label)
    if label.ndim != 2 or not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f"expected an integer label map of shape (H, W), got {label.dtype} {label.shape}")
    table = np.zeros((256, 3), dtype=np.uint8)  # ids >= len(palette) stay unmapped and are rejected below
    colours = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if len(colours) > IGNORE_INDEX:
        raise ValueError(f"at most {IGNORE_INDEX} classes can be coloured (255 is ignore), got {len(colours)}")
    table[: len(colours)] = colours
    valid = (label == IGNORE_INDEX) | ((label >= 0) & (label < len(colours)))
    if not valid.all():
        bad = np.unique(label[~valid])[:5].tolist()
        raise ValueError(
            f"label values {bad} have no colour: the palette covers ids 0..{len(colours) - 1} and "
            f"{IGNORE_INDEX} (ignore)"
        )
    return table[label.astype(np.intp)]  # (H, W, 3)
