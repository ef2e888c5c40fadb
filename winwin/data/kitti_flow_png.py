"""KITTI 2015 optical-flow ground truth: a 16-bit RGB PNG (the KITTI devkit's format; also HD1K's).

Each pixel holds three uint16 values:

    channel 0   u * 64 + 2**15   (u: displacement along x, columns to the right, in pixels)
    channel 1   v * 64 + 2**15   (v: along y, rows downwards)
    channel 2   1 = ground truth known, 0 = none (the flow channels then hold anything; writers put 2**15)

so flow lies in [-512, 511.984375] px, in steps of 1/64 px. The PNG container (ISO/IEC 15948):

    bytes 0..7     signature 89 50 4E 47 0D 0A 1A 0A
    then chunks    uint32 length (big-endian), 4-byte type, data, CRC-32 of type + data
    IHDR (first)   uint32 width W, uint32 height H, bit depth 16, colour type 2 (RGB), compression 0,
                   filter method 0, interlace 0 (Adam7-interlaced files are refused)
    IDAT (1 or +)  together one zlib stream of H rows: a filter-type byte (0 None, 1 Sub, 2 Up, 3 Average,
                   4 Paeth) then W x 3 big-endian uint16 (R, G, B per pixel)
    IEND (last)    empty

Pillow decodes 16-bit RGB PNGs to 8 bits, so the file is decoded here with zlib and numpy. The reader checks
the signature, IHDR (sizes against ``MAX_SIDE`` / ``MAX_PIXELS``, bit depth, colour type), the file's length
and every chunk's CRC before decompressing, and decompresses at most the declared size; every problem
raises ``BadFileError`` whose message starts with the file's path. The writer stores every row with the Up
filter.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import BadFileError
from .flow_common import check_flow_to_write, open_binary, read_exact, size_problem

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEAD_BYTES = 33  # signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC)
OFFSET = 1 << 15  # stored value of zero flow
SCALE = 64.0  # stored units per pixel of flow
FLOW_MIN, FLOW_MAX = -OFFSET / SCALE, (65535 - OFFSET) / SCALE  # -512, 511.984375 px
BPP = 6  # bytes per pixel: 3 channels x 2 bytes
SLACK = 1 << 20  # bytes a plausible file may hold beyond twice its raw pixel data (ancillary chunks)
EXPECTED = "a KITTI flow PNG: 16-bit RGB (bit depth 16, colour type 2)"
_COLOUR_TYPES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale+alpha", 6: "RGBA"}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_kitti_flow(path: str | Path, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a float (H, W, 2) flow (u, v) as a KITTI flow PNG, atomically.

    valid: (H, W) bool (or 0/1 integers); None = the pixels whose u and v are both finite. Valid pixels must
    be finite and within [FLOW_MIN, FLOW_MAX] after rounding to 1/64 px; invalid ones are stored as (2**15, 2**15, 0).
    """
    flow = check_flow_to_write(flow, "KITTI flow PNG")
    h, w = flow.shape[:2]
    if valid is None:
        valid = np.isfinite(flow).all(axis=2)  # (H, W)
    else:
        valid = np.asarray(valid)
        if valid.shape != (h, w) or not (valid.dtype == bool or np.issubdtype(valid.dtype, np.integer)):
            raise ValueError(f"expected valid as a bool (H, W) = {(h, w)} mask, got {valid.dtype} {valid.shape}")
        valid = valid != 0  # (H, W)
    with np.errstate(invalid="ignore", over="ignore"):
        stored = np.round(flow.astype(np.float64) * SCALE) + OFFSET  # (H, W, 2), NaN where flow is
        fits = ((stored >= 0) & (stored <= 65535)).all(axis=2)  # (H, W); False for NaN / inf
    bad = valid & ~fits
    if bad.any():
        y, x = np.argwhere(bad)[0]
        raise ValueError(
            f"expected finite flow within [{FLOW_MIN}, {FLOW_MAX}] px at valid pixels (KITTI stores u * 64 + 2**15 "
            f"as uint16), got {flow[y, x].tolist()} at row {y}, column {x} ({int(bad.sum())} such pixels); "
            "mark them invalid with valid="
        )
    values = np.empty((h, w, 3), ">u2")  # (H, W, 3) big-endian uint16: u, v, valid
    values[..., :2] = np.where(valid[..., None], stored, OFFSET)
    values[..., 2] = valid
    rows = values.view(np.uint8).reshape(h, w * BPP)  # (H, 6W) bytes
    up = rows.copy()
    up[1:] -= rows[:-1]  # Up filter: byte minus the byte above, mod 256
    raw = np.concatenate([np.full((h, 1), 2, np.uint8), up], axis=1)  # (H, 1 + 6W): filter type 2 per row
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    png = (
        PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + _chunk(b"IEND", b"")
    )

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(png)

    from ..files import atomic_write  # imports matplotlib: only when a file is written

    atomic_write(path, write)


def _check_head(path: Path, head: bytes) -> tuple[int, int]:
    """(H, W) from the signature + IHDR bytes, after checking they describe a KITTI flow PNG."""
    if not head.startswith(PNG_SIGNATURE[: len(head)]):
        raise BadFileError(path, f"is not a PNG file (it starts with {head[:8]!r}); expected {EXPECTED}")
    if len(head) < HEAD_BYTES:
        raise BadFileError(path, f"truncated: expected at least {HEAD_BYTES} bytes (signature, IHDR), got {len(head)}")
    length, kind = struct.unpack(">I4s", head[8:16])
    if kind != b"IHDR" or length != 13:
        raise BadFileError(path, f"corrupt PNG: expected a 13-byte IHDR chunk first, found {kind!r} of {length} bytes")
    if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
        raise BadFileError(path, "corrupt PNG: the IHDR chunk's CRC does not match its contents")
    w, h, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", head[16:29])
    problem = size_problem(w, h, "PNG header")
    if problem is not None:
        raise BadFileError(path, problem)
    if (depth, colour) != (16, 2):
        article = "an" if str(depth).startswith("8") or depth in (11, 18) else "a"
        kind_name = _COLOUR_TYPES.get(colour, "unknown-colour-type")
        raise BadFileError(
            path,
            f"is {article} {depth}-bit {kind_name} PNG (bit depth {depth}, colour type {colour}); expected {EXPECTED}",
        )
    if interlace == 1:
        raise BadFileError(path, "is an interlaced (Adam7) PNG, which is not supported; re-save it non-interlaced")
    if (compression, filtering, interlace) != (0, 0, 0):
        methods = (compression, filtering, interlace)
        raise BadFileError(path, f"corrupt PNG header: compression, filter, interlace methods {methods}, expected 0s")
    return h, w


def _idat(path: Path, body: bytes) -> bytes:
    """The IDAT chunks' data joined, from the chunks after IHDR, every CRC checked, up to IEND."""
    parts, pos = [], 0
    while True:
        if pos + 8 > len(body):
            raise BadFileError(path, "truncated: the PNG ends before its IEND chunk")
        length, kind = struct.unpack_from(">I4s", body, pos)
        end = pos + 12 + length
        if end > len(body):
            raise BadFileError(path, f"truncated: chunk {kind!r} declares {length} bytes, {len(body) - pos - 12} left")
        data = body[pos + 8 : pos + 8 + length]
        if zlib.crc32(data, zlib.crc32(kind)) != struct.unpack_from(">I", body, end - 4)[0]:
            raise BadFileError(
                path, f"corrupt PNG: the CRC of chunk {kind!r} at byte {HEAD_BYTES + pos} does not match"
            )
        if kind == b"IEND":
            break
        if kind == b"IDAT":
            parts.append(data)
        elif kind == b"IHDR" or (kind[:1].isupper() and kind != b"PLTE"):
            raise BadFileError(path, f"corrupt PNG: unexpected critical chunk {kind!r} at byte {HEAD_BYTES + pos}")
        pos = end
    if not parts:
        raise BadFileError(path, "corrupt PNG: no IDAT chunk (no pixel data)")
    return b"".join(parts)


def _unfilter_rows(data: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """(H, 6W) filtered bytes, filter types 0..2 only -> (H, 6W) image bytes, one vectorised step per row."""
    out = np.empty_like(data)  # (H, 6W) uint8
    prior = np.zeros(data.shape[1], np.uint8)  # (6W,): the row above the first is zeros
    for r, kind in enumerate(kinds):
        row = data[r]
        if kind == 1:  # Sub: running sum along the row of each byte position within the pixel, mod 256
            row = np.cumsum(row.reshape(-1, BPP), axis=0, dtype=np.uint8).reshape(-1)  # (W, 6) -> (6W,)
        elif kind == 2:  # Up
            row = row + prior
        out[r] = row
        prior = out[r]
    return out


def _unfilter_diagonals(data: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """(H, 6W) filtered bytes, any filter types -> (H, 6W) image bytes.

    A pixel's predictor uses its left, upper and upper-left neighbours, so all pixels on one anti-diagonal
    (row + column = d) are decoded together: H + W - 1 vectorised steps.
    """
    h, n = data.shape
    w = n // BPP
    filtered = data.reshape(h, w, BPP).astype(np.int16)  # (H, W, 6)
    out = np.zeros((h + 1, w + 1, BPP), np.int16)  # (H+1, W+1, 6): pixel (r, c) at [r+1, c+1], zeros around
    kinds = kinds.astype(np.intp)
    for d in range(h + w - 1):
        r = np.arange(max(0, d - w + 1), min(h, d + 1))  # (n,) rows crossing the diagonal
        c = d - r  # (n,) their columns
        a, b, ul = out[r + 1, c], out[r, c + 1], out[r, c]  # (n, 6) left, up, upper-left
        pa, pb, pc = np.abs(b - ul), np.abs(a - ul), np.abs(a + b - 2 * ul)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, ul))  # (n, 6)
        predictor = np.choose(kinds[r][:, None], (np.zeros_like(a), a, b, (a + b) >> 1, paeth))  # (n, 6)
        out[r + 1, c + 1] = (filtered[r, c] + predictor) & 255
    return out[1:, 1:].astype(np.uint8).reshape(h, n)  # (H, 6W)


def read_kitti_flow(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI flow PNG -> (float32 (H, W, 2) flow (u, v) in pixels, bool (H, W) valid mask).

    The flow of an invalid pixel is whatever the file holds there (0 when written as (2**15, 2**15, 0)).
    """
    path = Path(path)
    f, size = open_binary(path, "PNG")
    with f:
        h, w = _check_head(path, read_exact(f, path, 0, min(size, HEAD_BYTES)))
        raw_size = h * (1 + BPP * w)  # bytes of the filtered rows
        if size > 2 * raw_size + SLACK:
            raise BadFileError(
                path,
                f"too large: {size} bytes for a {w}x{h} (WxH) 16-bit RGB PNG, expected at most {2 * raw_size + SLACK}",
            )
        body = read_exact(f, path, HEAD_BYTES, size - HEAD_BYTES)
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(_idat(path, body), raw_size + 1)  # at most one byte more than declared
    except zlib.error as e:
        raise BadFileError(path, f"corrupt PNG: its pixel data is not a valid zlib stream ({e})") from None
    if len(raw) != raw_size:
        got = "more" if len(raw) > raw_size else f"only {len(raw)}"
        raise BadFileError(path, f"corrupt PNG: expected {raw_size} bytes of {w}x{h} (WxH) 16-bit RGB rows, got {got}")
    if not stream.eof:
        raise BadFileError(path, "truncated: the pixel data's zlib stream has no end (its checksum is missing)")
    rows = np.frombuffer(raw, np.uint8).reshape(h, 1 + BPP * w)  # (H, 1 + 6W): filter type, then the row
    kinds = rows[:, 0]  # (H,)
    if kinds.max() > 4:
        r = int(np.argmax(kinds > 4))
        raise BadFileError(path, f"corrupt PNG: row {r} has filter type {kinds[r]}, expected 0 to 4")
    unfilter = _unfilter_rows if kinds.max() <= 2 else _unfilter_diagonals
    values = unfilter(rows[:, 1:], kinds).view(">u2").reshape(h, w, 3)  # (H, W, 3) uint16: u, v, valid
    flow = (values[..., :2].astype(np.float32) - OFFSET) / np.float32(SCALE)  # (H, W, 2) px
    return flow, values[..., 2] != 0
