"""The Middlebury ``.flo`` optical-flow file (Baker et al. 2011; also Sintel's and FlyingChairs' format).

Layout, all little-endian, no padding:

    bytes 0..3    float32 magic 202021.25 (the ASCII bytes "PIEH": a sanity check of the byte order)
    bytes 4..7    int32 width W
    bytes 8..11   int32 height H
    bytes 12..    H x W x 2 float32, row after row, (u, v) interleaved per pixel

u is the displacement along x (columns, to the right), v along y (rows, downwards), in pixels. Middlebury
marks unknown flow with values above 1e9 (``UNKNOWN_FLOW``); any float32 is stored as given.

The reader checks the magic, the header's sizes and that the file holds exactly ``12 + 8 * W * H`` bytes
before allocating anything, so a corrupt header cannot ask for gigabytes; every problem raises
``BadFileError`` whose message starts with the file's path.

The other flow formats live in their own modules and are re-exported here: ``read_kitti_flow`` /
``write_kitti_flow`` (KITTI 16-bit PNG, ``kitti_flow_png``), ``read_pfm`` / ``read_pfm_flow`` / ``write_pfm``
(FlyingThings3D, ``pfm``), ``read_flo5`` / ``write_flo5`` (Spring's HDF5, ``flo5``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import BadFileError
from .flo5 import read_flo5, write_flo5
from .flow_common import MAX_PIXELS, MAX_SIDE, check_flow_to_write, size_problem
from .kitti_flow_png import read_kitti_flow, write_kitti_flow
from .pfm import read_pfm, read_pfm_flow, write_pfm

__all__ = [
    "MAGIC",
    "MAX_PIXELS",
    "MAX_SIDE",
    "UNKNOWN_FLOW",
    "read_flo",
    "read_flo5",
    "read_flo_hw",
    "read_kitti_flow",
    "read_pfm",
    "read_pfm_flow",
    "write_flo",
    "write_flo5",
    "write_kitti_flow",
    "write_pfm",
]

MAGIC = 202021.25  # float32 whose little-endian bytes are b"PIEH"
HEADER_BYTES = 12
UNKNOWN_FLOW = 1e9  # Middlebury: |u| or |v| above this marks a pixel without ground truth


def write_flo(path: str | Path, flow: np.ndarray) -> None:
    """Write a float (H, W, 2) flow field (u, v) as a ``.flo`` file, atomically (no half-written file)."""
    flow = check_flow_to_write(flow, ".flo")
    h, w = flow.shape[:2]
    header = struct.pack("<fii", MAGIC, w, h)
    data = np.ascontiguousarray(flow, dtype="<f4")  # (H, W, 2) little-endian float32

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(data.tobytes())

    from ..files import atomic_write  # imports matplotlib: only when a file is written

    atomic_write(path, write)


def _header_problem(magic: float, raw_magic: bytes, w: int, h: int) -> str | None:
    """Why a ``.flo`` header is not one, or None if it is."""
    if magic != MAGIC:
        swapped = struct.unpack(">f", raw_magic)[0]
        hint = " (a big-endian .flo file: re-save it little-endian)" if swapped == MAGIC else ""
        return f"not a .flo file: wrong magic, expected {MAGIC} (bytes b'PIEH'), found {magic!r} ({raw_magic!r}){hint}"
    return size_problem(w, h, ".flo header")


def read_flo_hw(path: str | Path) -> tuple[int, int]:
    """(H, W) of a ``.flo`` file from its header, after checking magic, sizes and file size (no data read)."""
    return _check(Path(path))[:2]


def _check(path: Path) -> tuple[int, int, int]:
    """(H, W, file size) after every check that needs no data."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
            size = f.seek(0, 2)
    except FileNotFoundError:
        raise BadFileError(path, "no such file") from None
    except IsADirectoryError:
        raise BadFileError(path, "is a folder, not a .flo file") from None
    except OSError as e:
        raise BadFileError(path, f"cannot be read ({e.strerror})") from None
    if len(head) < HEADER_BYTES:
        raise BadFileError(path, f"truncated: expected a {HEADER_BYTES}-byte .flo header, got {len(head)} bytes")
    magic, w, h = struct.unpack("<fii", head)
    problem = _header_problem(magic, head[:4], w, h)
    if problem is not None:
        raise BadFileError(path, problem)
    expected = HEADER_BYTES + 8 * w * h
    if size != expected:
        what = "truncated" if size < expected else "too long (trailing bytes)"
        raise BadFileError(path, f"{what}: expected {expected} bytes for {w}x{h} (WxH) flow, got {size}")
    return h, w, size


def read_flo(path: str | Path) -> np.ndarray:
    """Read a ``.flo`` file -> float32 (H, W, 2) flow (u, v) in pixels; unknown pixels keep their > 1e9 values."""
    path = Path(path)
    h, w, _ = _check(path)
    try:
        with open(path, "rb") as f:
            f.seek(HEADER_BYTES)
            data = np.fromfile(f, dtype="<f4", count=2 * h * w)
    except OSError as e:
        raise BadFileError(path, f"cannot be read ({e.strerror})") from None
    if data.size != 2 * h * w:  # the file shrank between the checks and the read
        raise BadFileError(path, f"truncated: expected {2 * h * w} float32 values, got {data.size}")
    return data.reshape(h, w, 2).astype(np.float32, copy=False)  # (H, W, 2) native float32
