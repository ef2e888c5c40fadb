"""What every optical-flow file reader shares: the size limits a header is checked against before anything
is allocated, and opening a file with every failure turned into ``BadFileError`` (message: the path first).

The limits are a guard against corrupt headers, not against real data: the largest flow benchmarks
(Spring's 1920x1080 at 2x = 3840x2160) are far below them.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import BadFileError

MAX_SIDE = 1 << 15  # px; a larger side is a corrupt header, not a flow field
MAX_PIXELS = 1 << 26  # 67M pixels (8192x8192): larger fields are refused before reading


def size_problem(w: int, h: int, what: str) -> str | None:
    """Why ``what`` (e.g. ".flo header") declaring ``w`` x ``h`` pixels is corrupt, or None if plausible."""
    if 0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE and w * h <= MAX_PIXELS:
        return None
    return (
        f"corrupt {what}: it declares {w}x{h} (WxH) pixels; expected both sides between 1 and {MAX_SIDE} "
        f"and at most {MAX_PIXELS} pixels"
    )


def open_binary(path: Path, what: str) -> tuple[BinaryIO, int]:
    """(open binary file, its size in bytes); BadFileError if it is missing, a folder or unreadable."""
    try:
        f = open(path, "rb")  # noqa: SIM115 -- handed to the caller, who closes it
    except FileNotFoundError:
        raise BadFileError(path, "no such file") from None
    except IsADirectoryError:
        raise BadFileError(path, f"is a folder, not a {what} file") from None
    except OSError as e:
        raise BadFileError(path, f"cannot be read ({e.strerror})") from None
    try:
        return f, f.seek(0, 2)
    except OSError as e:
        f.close()
        raise BadFileError(path, f"cannot be read ({e.strerror})") from None


def read_exact(f: BinaryIO, path: Path, offset: int, n: int) -> bytes:
    """``n`` bytes of an open file from ``offset``; BadFileError if the file cannot be read (or shrank)."""
    try:
        f.seek(offset)
        data = f.read(n)
    except OSError as e:
        raise BadFileError(path, f"cannot be read ({e.strerror})") from None
    if len(data) != n:
        raise BadFileError(path, f"truncated while reading: expected {n} bytes at offset {offset}, got {len(data)}")
    return data


def check_flow_to_write(flow: np.ndarray, fmt: str) -> np.ndarray:
    """The (H, W, 2) real-valued flow a writer of ``fmt`` was given, as an array; ``ValueError`` saying what
    was expected otherwise (a wrong shape or dtype, or a field too large for the readers to accept)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] < 1 or flow.shape[1] < 1:
        raise ValueError(f"expected a flow field of shape (H, W, 2) with H, W >= 1, got {tuple(flow.shape)}")
    if not (np.issubdtype(flow.dtype, np.floating) or np.issubdtype(flow.dtype, np.integer)):
        raise ValueError(f"expected a real-valued flow field (float32 is stored), got dtype {flow.dtype}")
    h, w = flow.shape[:2]
    if size_problem(w, h, fmt) is not None:
        raise ValueError(f"flow field {w}x{h} (WxH) is too large for a {fmt} file here: at most {MAX_SIDE} px a side")
    return flow
