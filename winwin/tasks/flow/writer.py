"""Flow predictions on disk: Middlebury ``.flo``, KITTI ``.png`` or a float32 ``.npy`` of (H, W, 2); a colour-wheel
picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ...data.flow_io import write_flo, write_kitti_flow
from ...data.flow_viz import flow_to_color
from ...files import atomic_save_npy, atomic_write


def write_flow(flow: np.ndarray, path: Path) -> None:
    """(H, W, 2) float (u, v) in pixels -> ``.flo`` (Middlebury), ``.png`` (KITTI's 16-bit flow PNG, every pixel
    valid; |u|, |v| up to 511 px) or ``.npy`` (float32 (H, W, 2))."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        atomic_save_npy(path, flow.astype(np.float32))
    elif suffix == ".png":
        write_kitti_flow(path, flow.astype(np.float32))
    else:
        write_flo(path, flow.astype(np.float32))


def write_flow_picture(flow: np.ndarray, path: Path, max_flow: float | None = None) -> None:
    rgb = flow_to_color(flow, max_flow)  # (H, W, 3) uint8
    atomic_write(path, lambda tmp: Image.fromarray(rgb).save(tmp, format="PNG"))
