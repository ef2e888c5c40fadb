"""Tiny depth fixture files written by the tests: 16-bit PNGs, NYUv2's MATLAB v7.3 .mat and splits.mat, and
the NYUv2 / PNG-export / KITTI folder layouts (pytest fixtures ``nyu``, ``png_folder``, ``kitti``, made
available to every test by conftest.py)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

N, H, W = 5, 24, 32
MATLAB_73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  2 10:00:00 2012 HDF5 schema 1.00 ."


# -- writers and fixtures --------------------------------------------------------------------------------------
def write_uint16_png(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint16)).save(path)


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def write_nyu_mat(path: Path, rgb: np.ndarray, depth: np.ndarray, **replace) -> None:
    """(N, H, W, 3) / (N, H, W) as MATLAB v7.3 stores HxWx3xN / HxWxN: axes reversed behind a 512-byte header.

    ``replace`` swaps a stored array (already in HDF5 order) or drops it (None).
    """
    stored = {"images": rgb.transpose(0, 3, 2, 1), "depths": depth.transpose(0, 2, 1), **replace}
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in stored.items():
            if value is not None:
                f[key] = value
    with open(path, "r+b") as f:
        f.write(MATLAB_73_HEADER)


def write_splits(path: Path, train: list[int], test: list[int], hdf5: bool = False) -> None:
    """1-based MATLAB column vectors (doubles, like the official file); v5 by scipy or v7.3 (HDF5: 1 x n)."""
    column = {"trainNdxs": np.array(train, dtype=float)[:, None], "testNdxs": np.array(test, dtype=float)[:, None]}
    if not hdf5:
        scipy.io.savemat(path, column)
        return
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in column.items():
            f[key] = value.T  # (1, n)


@pytest.fixture
def nyu(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """ROOT with nyu_depth_v2_labeled.mat (5 images of 24x32) and splits.mat (train 1,3,5; test 2,4)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(N, H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.5, size=(N, H, W)).astype(np.float32)
    write_nyu_mat(tmp_path / "nyu_depth_v2_labeled.mat", rgb, depth)
    write_splits(tmp_path / "splits.mat", [1, 3, 5], [2, 4])
    return tmp_path, rgb, depth


@pytest.fixture
def png_folder(tmp_path: Path) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """ROOT/train/{rgb,depth}: three pairs (one .jpg image), depth in millimetres with some zeros."""
    rng = np.random.default_rng(1)
    arrays = {}
    for stem, suffix in (("b", ".png"), ("a", ".png"), ("c", ".jpg")):
        rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        mm = rng.integers(1, 10_000, size=(H, W))
        mm[:3, :4] = 0
        write_rgb(tmp_path / "train" / "rgb" / f"{stem}{suffix}", rgb)
        write_uint16_png(tmp_path / "train" / "depth" / f"{stem}.png", mm)
        arrays[stem] = (rgb, mm)
    return tmp_path, arrays


DRIVES = ("2011_09_26_drive_0001_sync", "2011_10_03_drive_0042_sync")


def kitti_paths(root: Path, image_root: Path, drive: str, frame: str) -> tuple[Path, Path]:
    depth = root / "train" / drive / "proj_depth" / "groundtruth" / "image_02" / f"{frame}.png"
    return image_root / drive[:10] / drive / "image_02" / "data" / f"{frame}.png", depth


@pytest.fixture
def kitti(tmp_path: Path) -> tuple[Path, Path, dict[Path, np.ndarray]]:
    """Depth benchmark ROOT and raw IMAGE_ROOT: two drives of two dates, two frames each, sparse uint16 / 256."""
    root, image_root, raw = tmp_path / "depth", tmp_path / "raw", {}
    rng = np.random.default_rng(2)
    for drive in DRIVES:
        for frame in ("0000000005", "0000000006"):
            image_path, depth_path = kitti_paths(root, image_root, drive, frame)
            values = rng.integers(1, 80 * 256, size=(H, W)) * (rng.random((H, W)) < 0.3)  # 0 = no LiDAR point
            write_uint16_png(depth_path, values)
            write_rgb(image_path, rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8))
            raw[image_path] = values
    return root, image_root, raw
