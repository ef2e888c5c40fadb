"""Depth predictions on disk: 16-bit PNG in millimetres or a float32 ``.npy`` in metres, and a colour
picture (near = bright, log-spaced, so that near and far structure both show)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

from ...files import atomic_save_npy, atomic_write

MM_PER_M = 1000.0  # the PNG unit: millimetres, as in the NYUv2 PNG export (65.535 m at most)


def write_depth(depth: np.ndarray, path: Path) -> None:
    """(H, W) metres -> ``.png``: uint16 millimetres (0 = unknown, clipped at 65535), or ``.npy``: float32 metres."""
    if path.suffix.lower() == ".npy":
        atomic_save_npy(path, depth.astype(np.float32))
        return
    from ...data.depth_io import write_depth_png

    atomic_write(path, lambda tmp: write_depth_png(tmp, depth, MM_PER_M))


def colorize_depth(depth: np.ndarray, vmin: float, vmax: float, valid: np.ndarray | None = None) -> np.ndarray:
    """(H, W) metres -> uint8 RGB (H, W, 3): log depth in [vmin, vmax] through the magma colour map, near
    bright, far dark purple; pixels outside ``valid`` black."""
    lo, hi = np.log(max(vmin, 1e-6)), np.log(max(vmax, vmin * 1.0001, 1e-6))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.log(np.clip(depth, vmin, vmax)) - lo) / (hi - lo)  # (H, W) in [0, 1]
    # far = dark purple, never the black of invalid pixels: the map's darkest 15% are left out
    rgb = colormaps["magma"](0.15 + 0.85 * (1.0 - np.nan_to_num(t, nan=1.0)), bytes=True)[..., :3]  # (H, W, 3)
    if valid is not None:
        rgb = np.where(valid[..., None], rgb, 0).astype(np.uint8)
    return rgb


def display_range(depth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """Robust colour range of a depth map: its 2nd and 98th percentiles over valid, positive pixels."""
    keep = np.isfinite(depth) & (depth > 0)
    if valid is not None:
        keep &= valid
    if not keep.any():
        return 0.1, 10.0
    lo, hi = np.percentile(depth[keep], [2, 98])
    return float(lo), float(max(hi, lo * 1.01))


def write_depth_picture(depth: np.ndarray, path: Path) -> None:
    rgb = colorize_depth(depth, *display_range(depth))
    atomic_write(path, lambda tmp: Image.fromarray(rgb).save(tmp, format="PNG"))
