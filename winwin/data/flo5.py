"""Spring's ``.flo5`` optical-flow file: an HDF5 file holding one dataset.

    /flow   float (H, W, 2) array, (u, v) per pixel in pixels; NaN marks a pixel without ground truth

Spring's own writer stores float32 with gzip compression (level 5); its ground truth is at twice the image
resolution (3840x2160 for 1920x1080 frames). The HDF5 container itself starts with the 8-byte signature
89 48 44 46 0D 0A 1A 0A ("\\x89HDF\\r\\n\\x1a\\n").

The reader opens the file read-only and checks that ``flow`` exists, is an array of a floating-point type and
of shape (H, W, 2) with sides within ``MAX_SIDE`` / ``MAX_PIXELS`` (h5py reads these from the metadata) before
reading any data; every problem raises ``BadFileError`` whose message starts with the file's path. h5py is
imported when a file is read or written, not with this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadFileError
from .flow_common import check_flow_to_write, open_binary, read_exact, size_problem

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
DATASET = "flow"
_H5_ERRORS = (OSError, ValueError, KeyError, RuntimeError, TypeError)  # what h5py raises on damaged files


def write_flo5(path: str | Path, flow: np.ndarray) -> None:
    """Write a float (H, W, 2) flow (u, v) as a ``.flo5`` file (float32, gzip), atomically.

    NaN marks an invalid pixel and is stored as given; +-inf is refused (Spring has no such marker).
    """
    flow = check_flow_to_write(flow, ".flo5")
    data = np.ascontiguousarray(flow, dtype=np.float32)  # (H, W, 2)
    if np.isinf(data).any():
        raise ValueError(f"expected finite flow or NaN (invalid), got {int(np.isinf(data).sum())} infinite values")

    def write(tmp: str) -> None:
        import h5py

        with h5py.File(tmp, "w") as f:
            f.create_dataset(DATASET, data=data, compression="gzip", compression_opts=5)

    from ..files import atomic_write  # imports matplotlib: only when a file is written

    atomic_write(path, write)


def _check_dataset(path: Path, f: Any) -> Any:
    """f["flow"] after checking it is a floating-point (H, W, 2) array of a plausible size (no data read)."""
    import h5py

    expected = "a float (H, W, 2) dataset 'flow' (Spring's .flo5)"
    if DATASET not in f:
        raise BadFileError(path, f"has no dataset {DATASET!r} (found {sorted(f.keys())}); expected {expected}")
    dataset = f[DATASET]
    if not isinstance(dataset, h5py.Dataset):
        raise BadFileError(path, f"{DATASET!r} is an HDF5 group, not an array; expected {expected}")
    shape = dataset.shape
    if shape is None or len(shape) != 3 or shape[2] != 2:
        raise BadFileError(path, f"{DATASET!r} has shape {shape}; expected {expected}")
    if dataset.dtype.kind != "f":
        raise BadFileError(path, f"{DATASET!r} has dtype {dataset.dtype}; expected {expected}")
    problem = size_problem(shape[1], shape[0], f".flo5 dataset {DATASET!r}")
    if problem is not None:
        raise BadFileError(path, problem)
    return dataset


def read_flo5(path: str | Path) -> np.ndarray:
    """Read a ``.flo5`` file -> float32 (H, W, 2) flow (u, v) in pixels; NaN where there is no ground truth."""
    path = Path(path)
    f, size = open_binary(path, ".flo5")  # missing / folder / unreadable -> BadFileError
    with f:
        head = read_exact(f, path, 0, min(size, len(HDF5_SIGNATURE)))
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except _H5_ERRORS as e:
        kind = "a damaged HDF5 file" if head == HDF5_SIGNATURE else f"not an HDF5 file (it starts with {head!r})"
        raise BadFileError(path, f"is {kind}; expected Spring's .flo5 (HDF5 with a dataset 'flow'): {e}") from None
    with h5:
        try:
            flow = _check_dataset(path, h5)[()]  # (H, W, 2) in the file's float type
        except BadFileError:
            raise
        except _H5_ERRORS as e:
            raise BadFileError(path, f"dataset {DATASET!r} cannot be read (truncated or damaged?): {e}") from None
    return np.ascontiguousarray(flow, dtype=np.float32)  # (H, W, 2)
