"""Segmentation predictions on disk: the class ids (a palette PNG or a .npy array) and a colour picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ...data.palette import colorize
from ...files import atomic_save_npy, atomic_write


def write_labels(labels: np.ndarray, path: Path, palette: np.ndarray) -> None:
    """(H, W) class ids -> ``.png``: a palette image whose pixel values are the class ids (viewers show the
    class colours; ``np.asarray(Image.open(path))`` gives the ids back), or ``.npy``: the int array."""
    if path.suffix.lower() == ".npy":
        atomic_save_npy(path, labels.astype(np.int64))
        return
    if labels.max(initial=0) > 255:
        raise ValueError(f"{labels.max()} classes do not fit a palette PNG; write .npy")
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    colours = np.zeros((256, 3), dtype=np.uint8)
    colours[: len(palette)] = np.asarray(palette, dtype=np.uint8)[:256]
    image.putpalette(colours.flatten().tolist())
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def write_colour(labels: np.ndarray, path: Path, palette: np.ndarray) -> None:
    """(H, W) class ids -> an RGB PNG in the class colours."""
    rgb = colorize(labels, palette)
    atomic_write(path, lambda tmp: Image.fromarray(rgb).save(tmp, format="PNG"))
