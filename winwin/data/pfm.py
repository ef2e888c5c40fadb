"""The Portable Float Map (``.pfm``): FlyingThings3D's / Monkaa's / Driving's flow and disparity files.

Layout (Netpbm PFM):

    line 1   "PF" (3 channels) or "Pf" (1 channel)
    line 2   width W and height H in ASCII decimal
    line 3   scale, an ASCII float whose sign is the byte order: negative = little-endian, positive = big-endian
             (its magnitude is a nominal unit, ignored here)
    then     H x W x C float32, rows stored BOTTOM-UP (the first row stored is the image's last), channels
             interleaved per pixel

Each line ends in a newline; real files also put other whitespace between the header tokens (a space between
W and H, "\\r\\n"), so any run of whitespace separates them and the data start where the file's last
4 x C x W x H bytes begin. FlyingThings3D flow is a 3-channel PFM (u, v, 0): ``read_pfm_flow`` keeps (u, v).

The reader parses the header from the first 256 bytes, checks the sizes against ``MAX_SIDE`` / ``MAX_PIXELS``
and the file's length before reading the data; every problem raises ``BadFileError`` whose message starts
with the file's path. The writer stores little-endian (scale -1.0) with "\\n" line ends.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..errors import BadFileError
from .flow_common import MAX_SIDE, open_binary, read_exact, size_problem

HEAD_BYTES = 256  # a header is far shorter; the tokens must be within these bytes
# magic, width, height, scale (at most 10 digits a side, 40 characters of scale), each after whitespace
_HEADER = re.compile(rb"(P[Ff])\s+(\d{1,10})\s+(\d{1,10})\s+([-+0-9.eEinfaINFA]{1,40})(?=\s)")
MAX_GAP = 16  # whitespace bytes accepted between the scale and the data (one is standard)


def write_pfm(path: str | Path, array: np.ndarray) -> None:
    """Write a float (H, W) or (H, W, 3) array as a little-endian PFM (rows bottom-up), atomically."""
    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3) or min(array.shape[:2]) < 1:
        raise ValueError(
            f"expected an array of shape (H, W) or (H, W, 3) with H, W >= 1, got {tuple(array.shape)} "
            "(store a (H, W, 2) flow as (u, v, 0), as FlyingThings3D does)"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"expected a real-valued array (float32 is stored), got dtype {array.dtype}")
    h, w = array.shape[:2]
    if size_problem(w, h, "PFM header") is not None:
        raise ValueError(f"array {w}x{h} (WxH) is too large for a PFM here: at most {MAX_SIDE} px a side")
    header = f"{'PF' if array.ndim == 3 else 'Pf'}\n{w} {h}\n-1.0\n".encode("ascii")
    data = np.ascontiguousarray(array[::-1], dtype="<f4")  # (H, W[, 3]) little-endian, last row first

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(data.tobytes())

    from ..files import atomic_write  # imports matplotlib: only when a file is written

    atomic_write(path, write)


def _parse_header(path: Path, head: bytes, size: int) -> tuple[int, int, int, str, int]:
    """(H, W, channels, numpy dtype, data offset) from the file's first bytes, checked against its size."""
    match = _HEADER.match(head)
    if match is None:
        if not head.startswith((b"PF", b"Pf")):
            raise BadFileError(path, f"not a PFM file: expected 'PF' or 'Pf' first, found {head[:8]!r}")
        raise BadFileError(
            path, f"corrupt PFM header {head[:40]!r}: expected 'PF' or 'Pf', width, height and scale on three lines"
        )
    magic, w, h = match[1], int(match[2]), int(match[3])
    try:
        scale = float(match[4])
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and scale != 0):
        raise BadFileError(path, f"corrupt PFM header: scale {match[4]!r}, expected a non-zero number (-1.0 or 1.0)")
    problem = size_problem(w, h, "PFM header")
    if problem is not None:
        raise BadFileError(path, problem)
    channels = 3 if magic == b"PF" else 1
    nbytes = 4 * channels * w * h
    offset, end = size - nbytes, match.end()  # the data are the last nbytes; the header ends at ``end``
    if offset <= end:
        expected = end + 1 + nbytes
        raise BadFileError(
            path, f"truncated: expected {expected} bytes for a {w}x{h} (WxH) {magic.decode()}, got {size}"
        )
    if offset - end > MAX_GAP or not head[end:offset].isspace() or offset > len(head):
        expected = end + 1 + nbytes
        raise BadFileError(
            path,
            f"too long (trailing bytes): expected {expected} bytes for a {w}x{h} (WxH) {magic.decode()}, got {size}",
        )
    return h, w, channels, "<f4" if scale < 0 else ">f4", offset


def _read(path: Path, flow: bool) -> np.ndarray:
    """float32 (H, W) or (H, W, 3), top row first; ``flow``: refuse a 1-channel file before reading its data."""
    f, size = open_binary(path, "PFM")
    with f:
        head = read_exact(f, path, 0, min(size, HEAD_BYTES))
        h, w, channels, dtype, offset = _parse_header(path, head, size)
        if flow and channels != 3:
            raise BadFileError(path, "is a 1-channel PFM ('Pf'); expected a 3-channel flow PFM ('PF': u, v, 0)")
        try:
            f.seek(offset)
            data = np.fromfile(f, dtype=dtype, count=channels * h * w)
        except OSError as e:
            raise BadFileError(path, f"cannot be read ({e.strerror})") from None
    if data.size != channels * h * w:  # the file shrank between the checks and the read
        raise BadFileError(path, f"truncated: expected {channels * h * w} float32 values, got {data.size}")
    shape = (h, w, 3) if channels == 3 else (h, w)
    return np.ascontiguousarray(data.reshape(shape)[::-1], dtype=np.float32)  # (H, W[, 3]) top row first


def read_pfm(path: str | Path) -> np.ndarray:
    """Read a PFM -> float32 (H, W) for 'Pf' or (H, W, 3) for 'PF', rows top-down (the first row is the top)."""
    return _read(Path(path), flow=False)


def read_pfm_flow(path: str | Path) -> np.ndarray:
    """Read a FlyingThings3D flow PFM (3 channels: u, v, 0) -> float32 (H, W, 2) flow (u, v) in pixels."""
    return np.ascontiguousarray(_read(Path(path), flow=True)[..., :2])  # (H, W, 3) -> (H, W, 2)
