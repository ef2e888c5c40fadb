"""The file readers that the fuzzing test feeds with malformed inputs: for each, a reader call and a small
valid file to mutate (segmentation: images and label maps; depth: 16-bit PNGs, NYUv2's .mat files; flow:
.flo, KITTI's 16-bit PNG, PFM, Spring's .flo5)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from depth_fixtures import write_nyu_mat, write_splits


@dataclass(frozen=True)
class Target:
    suffix: str  # the file name's suffix (some readers pick their decoder by it)
    seed: Callable[[Path], bytes]  # writes a valid file in the folder given, returns its bytes
    read: Callable[[Path], object]  # the reader under test
    hdf5: bool = False  # an HDF5 container: also fed structurally wrong files (see test_fuzz_readers)


def _pil_bytes(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _written(write: Callable[[Path], None], name: str) -> Callable[[Path], bytes]:
    def seed(folder: Path) -> bytes:
        path = folder / name
        write(path)
        return path.read_bytes()

    return seed


_RNG = np.random.default_rng(0)
RGB = _RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # (H, W, 3)
FLOW = _RNG.normal(0, 5, (6, 8, 2)).astype(np.float32)  # (H, W, 2)


def _image(path: Path) -> object:
    from winwin.data.transforms import load_image

    return load_image(path)


def _label(path: Path) -> object:
    from winwin.data.transforms import load_label

    return load_label(path)


def _depth_png(path: Path) -> object:
    from winwin.data.depth_io import read_depth_png

    return read_depth_png(path, 1000.0)


def _nyu_mat(path: Path) -> object:
    from winwin.data.depth_io import NYUv2Mat

    mat = NYUv2Mat(path)
    return mat.read(len(mat) - 1)


def _nyu_splits(path: Path) -> object:
    from winwin.data.depth_io import read_nyu_splits

    return read_nyu_splits(path, num_items=4)


def _seed_nyu_mat(path: Path) -> None:
    write_nyu_mat(path, RGB[None].repeat(2, 0), np.full((2, 6, 8), 2.0, np.float32))


def _flow_reader(name: str) -> Callable[[Path], object]:
    def read(path: Path) -> object:
        from winwin.data import flow_io

        return getattr(flow_io, name)(path)

    return read


def _flow_writer(name: str, *args) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        from winwin.data import flow_io

        getattr(flow_io, name)(path, *args)

    return write


TARGETS: dict[str, Target] = {
    "image_png": Target(".png", lambda _: _pil_bytes(RGB, "PNG"), _image),
    "image_jpg": Target(".jpg", lambda _: _pil_bytes(RGB, "JPEG"), _image),
    "label_png": Target(".png", lambda _: _pil_bytes(RGB[..., 0] % 19, "PNG"), _label),
    "depth_png": Target(".png", lambda _: _pil_bytes(RGB[..., 0].astype(np.uint16) * 100, "PNG"), _depth_png),
    "nyu_mat": Target(".mat", _written(_seed_nyu_mat, "nyu.mat"), _nyu_mat, hdf5=True),
    "nyu_splits": Target(".mat", _written(lambda p: write_splits(p, [1, 3], [2, 4]), "splits.mat"), _nyu_splits),
    "flo": Target(".flo", _written(_flow_writer("write_flo", FLOW), "a.flo"), _flow_reader("read_flo")),
    "kitti_flow_png": Target(
        ".png",
        _written(_flow_writer("write_kitti_flow", FLOW, np.abs(FLOW[..., 0]) < 5), "a.png"),
        _flow_reader("read_kitti_flow"),
    ),
    "pfm": Target(
        ".pfm",
        _written(_flow_writer("write_pfm", np.dstack([FLOW, 0 * FLOW[..., :1]])), "a.pfm"),
        _flow_reader("read_pfm"),
    ),  # fmt: skip
    "flo5": Target(
        ".flo5", _written(_flow_writer("write_flo5", FLOW), "a.flo5"), _flow_reader("read_flo5"), hdf5=True
    ),  # fmt: skip
}


def write_h5(path: Path, key: str, shape: tuple[int, ...], dtype: str, userblock: bool) -> None:
    """An HDF5 file holding one dataset ``key`` of any ``shape`` (even absurd: never written, so the file
    stays small) and ``dtype``; with MATLAB's 512-byte user block when ``userblock``."""
    with h5py.File(path, "w", userblock_size=512 if userblock else 0) as f:
        f.create_dataset(key, shape=shape, dtype=dtype)
    if userblock:
        with open(path, "r+b") as f:
            f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64 HDF5 schema 1.00 .")
