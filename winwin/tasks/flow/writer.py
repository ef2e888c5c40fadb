"""Flow predictions on disk: Middlebury ``.flo`` (or a float32 ``.npy`` of (H, W, 2)) and a colour-wheel picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ...data.flow_io import write_flo
from ...data.flow_viz import flow_to_color
from ...files import atomic_save_npy, atomic_write


def write_flow(flow: np.ndarray, path: Path) -> None:
    """(H, W, 2) float (u, v) in pixels -> ``.flo`` (Middlebury) or ``.npy`` (float32 (H, W, 2))."""
    if path.suffix.lower() == ".npy":
        atomic_save_npy(path, flow.astype(np.float32))
    else:
        write_flo(path, flow.astype(np.float32))


def write_flow_picture(flow: np.ndarray, path: Path, max_flow: float | None = None) -> None:
    rgb = flow_to_color(flow, max_flow)  # (H, W, 3) uint8
    atomic_write(path, lambda tmp: Image.fromarray(rgb).save(tmp, format="PNG"))
