"""File formats for monocular depth: 16-bit depth PNGs and the two NYUv2 MATLAB files.

Depth PNG     16-bit single-channel PNG, depth [m] = value / scale, 0 = no measurement. The NYUv2 PNG
              exports store millimetres (scale 1000); the KITTI depth benchmark stores uint16 / 256 (scale
              256, devkit readme), where 0 marks the pixels without a LiDAR point.
NYUv2 labeled nyu_depth_v2_labeled.mat, MATLAB v7.3 = HDF5 behind a 512-byte MATLAB header. MATLAB holds
              images 480x640x3xN uint8 and depths 480x640xN (metres, filled in) column-major, so HDF5 sees
              the axes reversed: images (N, 3, 640, 480), depths (N, 640, 480).
NYUv2 split   splits.mat (MATLAB v5; a v7.3 / HDF5 re-save is accepted): trainNdxs 795x1 and testNdxs
              654x1, 1-based indices into the 1449 labeled images.

Depth is float32 metres and an unknown depth is 0, never NaN (callers build the valid mask as depth > 0).
Every reader checks the header (signature, mode, keys, shapes, dtypes) before reading pixels, and every
problem with a file raises ``BadFileError`` whose message starts with the file's path. h5py is only
imported when an NYUv2 v7.3 .mat file is read; the v5 splits.mat goes through ``mat5`` (plain Python).
"""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from ..errors import BadFileError, InputError, parser_errors
from .mat5 import read_mat5_numeric

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAT5_HEADER = b"MATLAB 5.0 MAT-file"
NYU_SCALE = 1000.0  # NYUv2 PNG exports: millimetres
KITTI_SCALE = 256.0  # KITTI depth benchmark: uint16 / 256
MAX_DEPTH_PIXELS = 1 << 26  # 67M pixels (8192x8192): larger "depth maps" are refused before decoding
NYU_NUM_LABELED = 1449
SPLIT_KEYS = {"train": "trainNdxs", "test": "testNdxs"}

_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I")  # Pillow's modes for 16-bit greyscale PNGs ("I": Pillow < 10)
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)  # what Pillow raises on truncated / corrupt data


# -- depth PNGs ------------------------------------------------------------------------------------------------
def check_scale(scale: float) -> None:
    """A depth PNG's scale (units per metre) must be a positive finite number."""
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(
            f"scale must be a positive number of PNG units per metre (1000 for millimetres, 256 for KITTI), got {scale}"
        )


def _read_head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of a file, or BadFileError if it is missing or unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except FileNotFoundError:
        raise BadFileError(path, "no such file") from None
    except IsADirectoryError:
        raise BadFileError(path, "is a folder, not a file") from None
    except OSError as e:
        raise BadFileError(path, f"cannot be read ({e.strerror})") from None


def _mode_problem(mode: str) -> str | None:
    """Why a PNG of this Pillow mode is not a depth map, or None if it is one."""
    if mode in _DEPTH_MODES:
        return None
    if mode in ("1", "L", "P"):
        return (
            f"is an 8-bit PNG (mode {mode}), but depth PNGs are 16-bit single-channel (value = depth x scale): "
            "8 bits hold only 256 levels, so a depth map saved as 8-bit has lost its depth; export the depth "
            "as uint16 (e.g. write_depth_png)"
        )
    return (
        f"is a {len(mode.split(';')[0])}-channel PNG (mode {mode}), but depth PNGs are 16-bit single-channel; "
        "a colour PNG in a depth folder is usually a colour-mapped visualisation or the RGB image itself"
    )


def _open_depth_png(path: Path, data: bytes | None = None) -> Image.Image:
    """Open lazily (header only) and check signature, mode and size; the caller closes the image. With the
    file's ``data``, Pillow decodes from memory: from the file, a damaged chunk length makes it ask for
    gigabytes."""
    head = _read_head(path, len(PNG_SIGNATURE)) if data is None else data[: len(PNG_SIGNATURE)]
    if head != PNG_SIGNATURE:
        raise BadFileError(
            path, f"is not a PNG file (it starts with {head!r}); depth maps must be 16-bit single-channel PNGs"
        )
    with parser_errors(path, "has a PNG signature but an unreadable header"):
        image = Image.open(path if data is None else io.BytesIO(data))
    w, h = image.size
    problem = _mode_problem(image.mode)
    if problem is None and not 0 < w * h <= MAX_DEPTH_PIXELS:
        problem = f"declares {w}x{h} (WxH) pixels; expected between 1 and {MAX_DEPTH_PIXELS}"
    if problem is not None:
        image.close()
        raise BadFileError(path, problem)
    return image


def depth_png_hw(path: str | Path) -> tuple[int, int]:
    """(H, W) of a depth PNG from its header, after checking it is a 16-bit single-channel PNG (no decoding)."""
    with _open_depth_png(Path(path)) as image:
        return image.height, image.width


def read_depth_png(path: str | Path, scale: float) -> np.ndarray:
    """16-bit depth PNG -> float32 (H, W) metres = value / scale; 0 (no measurement) stays 0.

    scale: PNG units per metre, ``NYU_SCALE`` (1000, millimetres) or ``KITTI_SCALE`` (256).
    """
    check_scale(scale)
    path = Path(path)
    _read_head(path, 0)  # missing / unreadable -> BadFileError
    with _open_depth_png(path, path.read_bytes()) as image:
        with parser_errors(path, "is truncated or corrupt: its header is fine but its pixels are not"):
            image.load()
        values = np.asarray(image)  # (H, W) uint16 (int32 for mode "I")
    return values.astype(np.float32) / np.float32(scale)  # (H, W) metres


def write_depth_png(path: str | Path, depth_m: np.ndarray, scale: float) -> None:
    """float (H, W) metres -> 16-bit PNG of round(depth x scale), the inverse of ``read_depth_png``.

    NaN, inf, 0 and negative depths are written as 0 (unknown); depths beyond 65535 / scale saturate at 65535;
    positive depths below half a step are written as 1 (the smallest valid value) so they stay valid.
    """
    check_scale(scale)
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2 or depth.size == 0:
        raise InputError(f"a depth map must be a non-empty (H, W) array, got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    scaled = np.where(valid, np.minimum(depth, 65536.0 / scale) * scale, 0.0)  # (H, W), no overflow
    values = np.where(valid, np.clip(np.rint(scaled), 1, 65535), 0).astype(np.uint16)  # (H, W)
    Image.fromarray(values).save(path, format="PNG")  # mode I;16: 16-bit greyscale


# -- MATLAB files ---------------------------------------------------------------------------------------------
def _import(module: str) -> ModuleType:
    """h5py, imported on first use: only the NYUv2 v7.3 .mat readers need it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise InputError(f"reading NYUv2 .mat files needs the {package} package: pip install {package}") from None


def _is_hdf5(path: Path) -> bool:
    """The HDF5 signature at offset 0, 512, 1024, ... (MATLAB v7.3 puts it at 512, after its text header)."""
    _read_head(path, 0)  # missing / unreadable -> BadFileError
    size, offset = path.stat().st_size, 0
    with open(path, "rb") as f:
        while offset + len(HDF5_SIGNATURE) <= size:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else 2 * offset
    return False


def _open_hdf5(path: Path, what: str) -> Any:
    """h5py.File of a MATLAB v7.3 file, read-only; BadFileError if it is no (readable) HDF5 file."""
    h5py = _import("h5py")
    if not _is_hdf5(path):
        head = _read_head(path, 40)
        kind = (
            "a MATLAB v5 .mat file" if head.startswith(MAT5_HEADER) else f"no HDF5 file (it starts with {head[:16]!r})"
        )
        raise BadFileError(path, f"is {kind}; expected {what} as MATLAB v7.3, i.e. HDF5 (save(..., '-v7.3') in MATLAB)")
    with parser_errors(path, "is a damaged HDF5 file (truncated?)"):
        return h5py.File(path, "r")


def _dataset(path: Path, f: Any, key: str, what: str) -> Any:
    """f[key], which must exist and be an array (an h5py.Dataset)."""
    with parser_errors(path, f"is a damaged HDF5 file: {key!r} cannot be opened; expected {what}"):
        if key not in f:
            raise BadFileError(path, f"has no {key!r} (keys found: {sorted(f.keys())}); expected {what}")
        dataset = f[key]
        dataset.shape, dataset.dtype  # noqa: B018 (a damaged header fails here, inside the guard)
    if not hasattr(dataset, "dtype"):
        raise BadFileError(path, f"{key!r} is an HDF5 group, not an array; expected {what}")
    return dataset


NYU_MAT_LAYOUT = "images 480x640x3xN uint8 and depths 480x640xN float in metres (the official nyu_depth_v2_labeled.mat)"


def _check_nyu_mat(path: Path, f: Any) -> tuple[int, tuple[int, int]]:
    """Check keys, shapes and dtypes of the labeled file (no data read); returns (N, (H, W))."""
    images = _dataset(path, f, "images", NYU_MAT_LAYOUT)
    depths = _dataset(path, f, "depths", NYU_MAT_LAYOUT)
    if images.ndim != 4 or images.shape[1] != 3 or min(images.shape) == 0:
        raise BadFileError(
            path, f"images is {images.shape} in HDF5 order; expected (N, 3, W, H) = MATLAB HxWx3xN ({NYU_MAT_LAYOUT})"
        )
    if images.dtype != np.uint8:
        raise BadFileError(path, f"images is {images.dtype}; expected uint8 ({NYU_MAT_LAYOUT})")
    n, _, w, h = images.shape
    if depths.shape != (n, w, h):
        raise BadFileError(
            path,
            f"depths is {depths.shape} in HDF5 order but images is {images.shape}; expected depths "
            f"{(n, w, h)}: one {h}x{w} depth map per image ({NYU_MAT_LAYOUT})",
        )
    if depths.dtype.kind != "f":
        raise BadFileError(path, f"depths is {depths.dtype}; expected floating-point metres ({NYU_MAT_LAYOUT})")
    return n, (h, w)


def zero_invalid(depth: np.ndarray) -> np.ndarray:
    """float32 (H, W) with NaN, inf and depths <= 0 set to 0, the one marker of an unknown depth."""
    depth = np.asarray(depth, dtype=np.float32)
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0))


class NYUv2Mat:
    """nyu_depth_v2_labeled.mat, read one sample at a time.

    Construction checks the file (HDF5, keys, shapes, dtypes) and closes it. Samples are read through a
    handle opened on first access in each process and kept: an h5py handle must not cross a fork, so
    DataLoader workers open their own, and pickling (spawned workers) leaves the handle behind.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with _open_hdf5(self.path, "the NYUv2 labeled file") as f, parser_errors(self.path, NYU_MAT_LAYOUT):
            self.num_items, self.image_hw = _check_nyu_mat(self.path, f)
        self._file: Any = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return self.num_items

    def _handle(self) -> Any:
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = _open_hdf5(self.path, "the NYUv2 labeled file"), os.getpid()
        return self._file

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` (0-based) -> (uint8 RGB (H, W, 3), float32 depth (H, W) metres, 0 = unknown)."""
        if not 0 <= index < self.num_items:
            raise IndexError(f"{self.path} holds {self.num_items} samples, index {index} is out of range")
        f = self._handle()
        with parser_errors(self.path, f"sample {index} cannot be read (truncated or damaged?)"):
            image = f["images"][index]  # (3, W, H) uint8
            depth = f["depths"][index]  # (W, H)
        rgb = np.ascontiguousarray(image.transpose(2, 1, 0))  # (H, W, 3)
        return rgb, zero_invalid(depth.T)  # (H, W, 3), (H, W)

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = self._pid = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": None}

    def __repr__(self) -> str:
        return f"NYUv2Mat({str(self.path)!r}, items={self.num_items}, image_hw={self.image_hw})"


# -- NYUv2 split file -----------------------------------------------------------------------------------------
_SPLIT_WHAT = "splits.mat of NYUv2 with trainNdxs and testNdxs (column vectors of 1-based indices)"


def _split_arrays_v5(path: Path, num_items: int) -> dict[str, np.ndarray]:
    """trainNdxs / testNdxs of a MATLAB v5 file (our own reader: scipy's crashed on a damaged file)."""
    found = read_mat5_numeric(path)
    for key in SPLIT_KEYS.values():
        if key not in found:
            raise BadFileError(
                path, f"has no {key!r} of numbers (numeric variables found: {sorted(found)}); expected {_SPLIT_WHAT}"
            )
        if found[key].size > num_items:
            shape = "x".join(map(str, found[key].shape))
            raise BadFileError(path, f"{key} is {shape}; expected at most {num_items} numbers ({_SPLIT_WHAT})")
    return {key: found[key] for key in SPLIT_KEYS.values()}


def _split_arrays_hdf5(path: Path, num_items: int) -> dict[str, np.ndarray]:
    """trainNdxs / testNdxs of a MATLAB v7.3 (HDF5) file; MATLAB's 795x1 is (1, 795) there."""
    out = {}
    with _open_hdf5(path, _SPLIT_WHAT) as f:
        for key in SPLIT_KEYS.values():
            dataset = _dataset(path, f, key, _SPLIT_WHAT)
            if dataset.dtype.kind not in "iuf" or dataset.size > num_items:
                raise BadFileError(
                    path,
                    f"{key} is {dataset.shape} {dataset.dtype}; expected at most {num_items} numbers ({_SPLIT_WHAT})",
                )
            with parser_errors(path, f"{key} cannot be read (truncated or damaged?)"):
                out[key] = np.asarray(dataset[()])
    return out


def _check_indices(path: Path, key: str, values: np.ndarray, num_items: int) -> np.ndarray:
    """1-based MATLAB indices (n x 1 or 1 x n) -> 0-based int64 (n,); integers in range, no duplicates."""
    if values.ndim > 2 or (values.ndim == 2 and min(values.shape) != 1) or values.size == 0:
        raise BadFileError(path, f"{key} has shape {values.shape}; expected a non-empty column vector n x 1")
    flat = values.reshape(-1)  # (n,)
    if flat.dtype.kind not in "iuf":
        raise BadFileError(path, f"{key} holds {flat.dtype} values; expected numbers (1-based indices)")
    if flat.dtype.kind == "f" and not bool((np.isfinite(flat) & (flat == np.round(flat))).all()):
        bad = flat[~(np.isfinite(flat) & (flat == np.round(flat)))]
        raise BadFileError(path, f"{key} holds non-integer indices, e.g. {bad[:5].tolist()}; expected 1-based integers")
    index = flat.astype(np.int64)
    outside = (index < 1) | (index > num_items)
    if bool(outside.any()):
        hint = " (0 appears: MATLAB indices start at 1, were they saved 0-based?)" if bool((index == 0).any()) else ""
        raise BadFileError(
            path,
            f"{key} holds {int(outside.sum())} indices outside 1..{num_items}, e.g. {index[outside][:5].tolist()}; "
            f"expected 1-based indices into the {num_items} labeled images{hint}",
        )
    unique, counts = np.unique(index, return_counts=True)
    if bool((counts > 1).any()):
        raise BadFileError(path, f"{key} repeats indices {unique[counts > 1][:5].tolist()}; each image may appear once")
    return index - 1


def read_nyu_splits(path: str | Path, num_items: int = NYU_NUM_LABELED) -> dict[str, np.ndarray]:
    """splits.mat -> {"train": int64 (795,), "test": int64 (654,)}: 0-based indices into the labeled file.

    Reads MATLAB v5 (the official file) and v7.3 (HDF5). The indices must be integers in 1..num_items,
    without duplicates, and train and test must be disjoint.
    """
    path = Path(path)
    if num_items < 1:
        raise InputError(f"num_items must be the positive number of labeled images, got {num_items}")
    if _is_hdf5(path):
        arrays = _split_arrays_hdf5(path, num_items)
    elif _read_head(path, len(MAT5_HEADER)) == MAT5_HEADER:
        arrays = _split_arrays_v5(path, num_items)
    else:
        head = _read_head(path, 16)
        raise BadFileError(
            path,
            f"is neither a MATLAB v5 nor a v7.3 (HDF5) .mat file (it starts with {head!r}); expected {_SPLIT_WHAT}",
        )
    splits = {name: _check_indices(path, key, arrays[key], num_items) for name, key in SPLIT_KEYS.items()}
    shared = np.intersect1d(splits["train"], splits["test"])
    if shared.size:
        raise BadFileError(
            path,
            f"trainNdxs and testNdxs share {shared.size} images, e.g. {(shared[:5] + 1).tolist()} (1-based); "
            "the train and test splits must be disjoint",
        )
    return splits
