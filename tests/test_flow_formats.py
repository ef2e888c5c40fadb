"""The KITTI 16-bit PNG, PFM and Spring .flo5 flow formats: exact round trips, files laid out by hand (PNG
rows under every filter type, PFM in both byte orders, flo5 through raw h5py), every way a file can be wrong."""

from __future__ import annotations

import struct
import zlib

import h5py
import numpy as np
import pytest
from PIL import Image

import winwin.data as data_pkg
from winwin.data import flow_io, kitti_flow_png
from winwin.data.flow_io import (
    MAX_SIDE,
    read_flo5,
    read_kitti_flow,
    read_pfm,
    read_pfm_flow,
    write_flo5,
    write_kitti_flow,
    write_pfm,
)
from winwin.errors import BadFileError

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _bad(read, path) -> str:
    with pytest.raises(BadFileError) as info:
        read(path)
    assert str(info.value).startswith(str(path)) and info.value.path == path
    return info.value.problem


def test_exports():
    for name in ("read_kitti_flow", "write_kitti_flow", "read_pfm", "read_pfm_flow", "write_pfm", "read_flo5"):
        assert getattr(data_pkg, name) is getattr(flow_io, name) and name in data_pkg.__all__
    assert data_pkg.write_flo5 is flow_io.write_flo5


# -- KITTI 16-bit PNG -------------------------------------------------------------------------------------------
def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _ihdr(w: int, h: int, depth: int = 16, colour: int = 2, interlace: int = 0) -> bytes:
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))


def _png(values: np.ndarray, kinds: list[int], split: int = 1, extra: bytes = b"") -> bytes:
    """uint16 (H, W, 3) -> PNG bytes, row r filtered with ``kinds[r]`` from the raw neighbours (an encoder
    independent of the reader's sequential decoding), the zlib stream cut into ``split`` IDAT chunks."""
    h, w, _ = values.shape
    x = np.zeros((h + 1, w + 1, 6), np.int16)  # (H+1, W+1, 6) bytes, zeros above and left
    x[1:, 1:] = values.astype(">u2").view(np.uint8).reshape(h, w, 6)
    a, b, c = x[1:, :-1], x[:-1, 1:], x[:-1, :-1]  # (H, W, 6) left, up, upper-left
    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    predictors = [0 * a, a, b, (a + b) // 2, paeth]
    filtered = [((x[r + 1, 1:] - predictors[k][r]) & 255).astype(np.uint8) for r, k in enumerate(kinds)]  # (W, 6)
    rows = [bytes([k]) + row.tobytes() for k, row in zip(kinds, filtered)]
    stream = zlib.compress(b"".join(rows))
    cuts = np.linspace(0, len(stream), split + 1).astype(int)
    idat = b"".join(_chunk(b"IDAT", stream[i:j]) for i, j in zip(cuts[:-1], cuts[1:]))
    return SIGNATURE + _ihdr(w, h) + extra + idat + _chunk(b"IEND", b"")


def test_kitti_round_trip_negative_fractional_and_invalid(tmp_path):
    flow = np.array([[[-1.5, 0.25], [511.984375, -512.0], [3.0, 4.0]], [[0.0, -0.015625], [np.nan, 1.0], [7, 8]]])
    flow = flow.astype(np.float32)  # (2, 3, 2): multiples of 1/64 px, exactly stored
    valid = np.array([[True, True, True], [True, False, False]])
    path = tmp_path / "sub" / "f.png"
    write_kitti_flow(path, flow, valid)
    back, back_valid = read_kitti_flow(path)
    assert back.dtype == np.float32 and back.shape == (2, 3, 2) and back_valid.dtype == bool
    np.testing.assert_array_equal(back_valid, valid)
    np.testing.assert_array_equal(back[valid], flow[valid])
    assert (back[~valid] == 0).all()  # invalid pixels are stored as (2**15, 2**15, 0)
    assert [p.name for p in path.parent.iterdir()] == ["f.png"]
    write_kitti_flow(path, flow)  # valid=None: the pixels with finite u and v
    np.testing.assert_array_equal(read_kitti_flow(path)[1], np.isfinite(flow).all(axis=2))
    write_kitti_flow(path, np.array([[[0.3, -0.3], [0.0078, 0.0079]]]))  # rounded to the nearest 1/64 px
    np.testing.assert_array_equal(read_kitti_flow(path)[0], [[[0.296875, -0.296875], [0, 0.015625]]])
    with Image.open(path) as image:  # another decoder accepts the file (CRCs, zlib stream); it keeps 8 bits
        image.load()
        assert image.mode == "RGB" and image.size == (2, 1)


def test_kitti_writer_byte_layout(tmp_path):
    path = tmp_path / "w.png"
    write_kitti_flow(path, np.array([[[-1.5, 0.25], [2.0, 0.0]], [[0.0, 0.0], [1.0, -1.0]]]), [[1, 1], [0, 1]])
    png = path.read_bytes()
    assert png[:8] == SIGNATURE and png[8:33] == _ihdr(2, 2) and png.endswith(_chunk(b"IEND", b""))
    length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT" and png[33 : 45 + length] == _chunk(b"IDAT", png[41 : 41 + length])
    rows = np.frombuffer(zlib.decompress(png[41 : 41 + length]), np.uint8).reshape(2, 13)
    assert rows[:, 0].tolist() == [2, 2]  # the Up filter: add the row above (zeros above the first)
    values = np.cumsum(rows[:, 1:], axis=0, dtype=np.uint8).view(">u2").reshape(2, 2, 3)
    expected = [[[32768 - 96, 32768 + 16, 1], [32768 + 128, 32768, 1]], [[32768, 32768, 0], [32832, 32704, 1]]]
    assert values.tolist() == expected


@pytest.mark.parametrize("kinds", [[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4], [4, 3, 1], [0, 4, 2]])
def test_kitti_reader_decodes_every_filter_type(tmp_path, kinds):
    values = np.random.default_rng(1).integers(0, 65536, (3, 5, 3)).astype(np.uint16)  # (H, W, 3)
    values[0, 0] = (65535, 0, 1)
    path = tmp_path / "k.png"
    path.write_bytes(_png(values, kinds, split=3, extra=_chunk(b"tEXt", b"Software\0hand")))
    flow, valid = read_kitti_flow(path)
    np.testing.assert_array_equal(flow, (values[..., :2].astype(np.float32) - 2**15) / 64)
    np.testing.assert_array_equal(valid, values[..., 2] != 0)
    assert flow[0, 0].tolist() == [511.984375, -512.0]


def test_kitti_reader_on_a_png_written_byte_by_byte(tmp_path):
    # 2x1 (WxH), filter type 0: pixel 0 = (u -1.5, v 0.25, valid), pixel 1 = (0, 0, invalid)
    row = b"\x00" + b"\x7f\xa0" + b"\x80\x10" + b"\x00\x01" + b"\x80\x00" * 2 + b"\x00\x00"
    path = tmp_path / "h.png"
    path.write_bytes(SIGNATURE + _ihdr(2, 1) + _chunk(b"IDAT", zlib.compress(row)) + _chunk(b"IEND", b""))
    flow, valid = read_kitti_flow(path)
    assert flow.tolist() == [[[-1.5, 0.25], [0.0, 0.0]]] and valid.tolist() == [[True, False]]


def _kitti_file(tmp_path, png: bytes):
    path = tmp_path / "bad.png"
    path.write_bytes(png)
    return _bad(read_kitti_flow, path)


def test_kitti_malformed_files(tmp_path, monkeypatch):
    good = _png(np.full((2, 3, 3), 7, np.uint16), [0, 0])
    assert _bad(read_kitti_flow, tmp_path / "missing.png") == "no such file"
    assert "folder" in _bad(read_kitti_flow, tmp_path)
    assert "is not a PNG file (it starts with b'PIEH" in _kitti_file(tmp_path, b"PIEH" + bytes(40))
    assert _kitti_file(tmp_path, b"") == "truncated: expected at least 33 bytes (signature, IHDR), got 0"
    assert "truncated" in _kitti_file(tmp_path, good[:20])
    for cut in (40, len(good) - 16, len(good) - 12):  # inside IDAT, before IEND, IEND missing
        assert "truncated" in _kitti_file(tmp_path, good[:cut])
    flipped = bytearray(good)
    flipped[45] ^= 1  # a byte of the IDAT data
    assert "CRC of chunk b'IDAT'" in _kitti_file(tmp_path, bytes(flipped))
    flipped[45] ^= 1
    flipped[20] ^= 1  # the IHDR's width
    assert "IHDR chunk's CRC" in _kitti_file(tmp_path, bytes(flipped))
    assert "expected a 13-byte IHDR" in _kitti_file(tmp_path, SIGNATURE + _chunk(b"IDAT", bytes(13)) + bytes(8))
    monkeypatch.setattr(kitti_flow_png, "SLACK", 0)
    assert "too large" in _kitti_file(tmp_path, good[:-12] + _chunk(b"tEXt", bytes(200)) + good[-12:])


@pytest.mark.parametrize("w, h", [(0, 5), (5, 0), (MAX_SIDE + 1, 1), (2**31 - 1, 2**31 - 1), (2**32 - 1, 2)])
def test_kitti_absurd_sizes_are_refused_before_reading(tmp_path, w, h):
    problem = _kitti_file(tmp_path, SIGNATURE + _ihdr(w, h) + _chunk(b"IDAT", zlib.compress(bytes(64))))
    assert problem.startswith(f"corrupt PNG header: it declares {w}x{h} (WxH) pixels")


@pytest.mark.parametrize(
    "depth, colour, words",
    [
        (8, 2, "an 8-bit RGB PNG"),
        (16, 0, "a 16-bit greyscale PNG"),
        (16, 6, "a 16-bit RGBA PNG"),
        (8, 3, "an 8-bit palette PNG"),
    ],
)
def test_kitti_wrong_bit_depth_or_colour_type(tmp_path, depth, colour, words):
    problem = _kitti_file(tmp_path, SIGNATURE + _ihdr(4, 4, depth, colour) + _chunk(b"IEND", b""))
    assert (
        problem.startswith(f"is {words} (bit depth {depth}, colour type {colour})")
        and "expected a KITTI flow PNG: 16-bit RGB" in problem
    )


def test_kitti_corrupt_pixel_data(tmp_path):
    head, end = SIGNATURE + _ihdr(2, 2), _chunk(b"IEND", b"")
    assert "interlaced" in _kitti_file(tmp_path, SIGNATURE + _ihdr(2, 2, interlace=1) + end)
    assert "no IDAT chunk" in _kitti_file(tmp_path, head + end)
    assert "not a valid zlib stream" in _kitti_file(tmp_path, head + _chunk(b"IDAT", b"garbage!") + end)
    row = bytes(13)
    assert "got only 13" in _kitti_file(tmp_path, head + _chunk(b"IDAT", zlib.compress(row)) + end)
    assert "got more" in _kitti_file(tmp_path, head + _chunk(b"IDAT", zlib.compress(row * 3)) + end)
    assert "zlib stream has no end" in _kitti_file(tmp_path, head + _chunk(b"IDAT", zlib.compress(row * 2)[:-4]) + end)
    bad_filter = _chunk(b"IDAT", zlib.compress(row + b"\5" + row[1:]))
    assert "row 1 has filter type 5" in _kitti_file(tmp_path, head + bad_filter + end)
    assert "critical chunk b'ABCD'" in _kitti_file(tmp_path, head + _chunk(b"ABCD", b"") + end)


def test_kitti_writer_rejects_bad_input(tmp_path):
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match=r"shape \(H, W, 2\).*got \(4, 4, 3\)"):
        write_kitti_flow(path, np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="real-valued"):
        write_kitti_flow(path, np.zeros((2, 2, 2), np.complex64))
    with pytest.raises(ValueError, match=r"valid as a bool \(H, W\) = \(2, 2\) mask, got bool \(2, 3\)"):
        write_kitti_flow(path, np.zeros((2, 2, 2)), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"valid as a bool.*got float64"):
        write_kitti_flow(path, np.zeros((2, 2, 2)), np.ones((2, 2)))
    for value in (512.0, -512.01, np.inf):
        with pytest.raises(ValueError, match=r"within \[-512.0, 511.984375\] px at valid pixels.*1 such pixels"):
            write_kitti_flow(path, np.array([[[0.0, value], [1.0, 1.0]]]), [[True, True]])
    assert not list(tmp_path.iterdir())
    write_kitti_flow(path, np.array([[[0.0, 600.0], [1.0, 1.0]]]), [[False, True]])  # out of range but invalid
    assert read_kitti_flow(path)[1].tolist() == [[False, True]]


# -- PFM --------------------------------------------------------------------------------------------------------
def _pfm_bytes(header: bytes, rows_top_down: np.ndarray, fmt: str) -> bytes:
    flat = rows_top_down[::-1].reshape(-1).tolist()  # bottom row first
    return header + struct.pack(f"{fmt}{len(flat)}f", *flat)


@pytest.mark.parametrize(
    "header, fmt",
    [(b"PF\n3 2\n-1.0\n", "<"), (b"PF\n3 2\n1.0\n", ">"), (b"PF \r\n3\t 2\r\n-0.5\r\n", "<"), (b"PF\n3 2\n+2\n", ">")],
)
def test_pfm_reads_hand_written_files_in_both_byte_orders(tmp_path, header, fmt):
    values = np.arange(18, dtype=np.float32).reshape(2, 3, 3) - 4.5  # (H=2, W=3, 3)
    path = tmp_path / "a.pfm"
    path.write_bytes(_pfm_bytes(header, values, fmt))
    np.testing.assert_array_equal(read_pfm(path), values)  # top row first again
    flow = read_pfm_flow(path)
    assert flow.shape == (2, 3, 2) and flow.flags.c_contiguous
    np.testing.assert_array_equal(flow, values[..., :2])
    grey = tmp_path / "g.pfm"
    grey.write_bytes(_pfm_bytes(header.replace(b"PF", b"Pf"), values[..., 0], fmt))
    assert read_pfm(grey).shape == (2, 3) and read_pfm(grey).tolist() == values[..., 0].tolist()


def test_pfm_round_trip_and_writer_layout(tmp_path):
    values = np.random.default_rng(0).normal(0, 20, (4, 5, 3)).astype(np.float32)
    values[0, 0, 0], values[3, 4, 2] = np.nan, -np.inf
    path = tmp_path / "sub" / "r.pfm"
    write_pfm(path, values)
    assert read_pfm(path).tobytes() == values.tobytes()  # bit-exact, NaN included
    assert path.read_bytes() == _pfm_bytes(b"PF\n5 4\n-1.0\n", values, "<")
    write_pfm(path, values[..., 1].astype(np.float64))
    assert path.read_bytes()[:12] == b"Pf\n5 4\n-1.0\n" and read_pfm(path).dtype == np.float32
    np.testing.assert_array_equal(read_pfm(path), values[..., 1])
    assert [p.name for p in path.parent.iterdir()] == ["r.pfm"]
    for shape in [(4, 4, 2), (4, 4, 4), (2, 2, 2, 3), (0, 3)]:
        with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\).*got \(" + str(shape[0])):
            write_pfm(tmp_path / "x.pfm", np.zeros(shape))
    with pytest.raises(ValueError, match="real-valued"):
        write_pfm(tmp_path / "x.pfm", np.zeros((2, 2), np.complex64))


def test_pfm_malformed_files(tmp_path):
    path = tmp_path / "m.pfm"
    body = np.zeros(6, "<f4").tobytes()  # 3x2 (WxH) Pf
    cases = {
        b"P6\n3 2\n255\n" + bytes(18): "not a PFM file: expected 'PF' or 'Pf' first, found b'P6",
        b"": "not a PFM file",
        b"Pf\nthree 2\n-1\n" + body: "corrupt PFM header",
        b"Pf\n3 2\n0.0\n" + body: "scale b'0.0', expected a non-zero number",
        b"Pf\n3 2\nnan\n" + body: "scale b'nan'",
        b"Pf\n3 2\n-1\n" + body[:-1]: "truncated: expected 34 bytes for a 3x2 (WxH) Pf, got 33",
        b"Pf\n3 2\n-1\n" + body + b"\0": "too long (trailing bytes): expected 34 bytes for a 3x2 (WxH) Pf, got 35",
        b"Pf\n3 2\n-1\n" + body + bytes(17 * 4): "too long",
        b"Pf\n0 2\n-1\n": "corrupt PFM header: it declares 0x2 (WxH) pixels",
        b"PF\n%d 1\n-1\n" % (MAX_SIDE + 1): f"between 1 and {MAX_SIDE}",
        b"PF\n9999999999 9999999999\n-1\n" + body: "corrupt PFM header: it declares 9999999999x9999999999",
    }
    for content, message in cases.items():
        path.write_bytes(content)
        assert message in _bad(read_pfm, path), content
    assert _bad(read_pfm, tmp_path / "missing.pfm") == "no such file"
    assert "folder" in _bad(read_pfm, tmp_path)
    path.write_bytes(b"Pf\n3 2\n-1\n" + body)
    assert "1-channel PFM" in _bad(read_pfm_flow, path)


# -- Spring .flo5 ---------------------------------------------------------------------------------------------
def test_flo5_round_trip_and_raw_h5py_layout(tmp_path):
    flow = np.random.default_rng(0).normal(0, 20, (4, 6, 2))
    flow[1, 2] = (np.nan, np.nan)  # invalid
    path = tmp_path / "sub" / "a.flo5"
    write_flo5(path, flow)  # float64 is stored as float32
    back = read_flo5(path)
    assert back.dtype == np.float32 and back.tobytes() == flow.astype(np.float32).tobytes()
    with h5py.File(path, "r") as f:
        assert list(f.keys()) == ["flow"] and f["flow"].dtype == np.float32 and f["flow"].shape == (4, 6, 2)
        assert f["flow"].compression == "gzip"
    assert [p.name for p in path.parent.iterdir()] == ["a.flo5"]
    for dtype in ("<f2", ">f4", "<f8"):  # written by another program: any float type, any byte order
        raw = tmp_path / f"raw{dtype[1:]}.flo5"
        with h5py.File(raw, "w") as f:
            f.create_dataset("flow", data=flow.astype(dtype))
            f.create_dataset("other", data=np.zeros(3))
        np.testing.assert_array_equal(read_flo5(raw), flow.astype(dtype).astype(np.float32))


def _h5(tmp_path, **datasets):
    path = tmp_path / "d.flo5"
    with h5py.File(path, "w") as f:
        for name, (shape, dtype) in datasets.items():
            f.create_dataset(name, shape=shape, dtype=dtype, chunks=(1,) * len(shape) if shape else None)
    return _bad(read_flo5, path)


def test_flo5_malformed_files(tmp_path):
    assert _bad(read_flo5, tmp_path / "missing.flo5") == "no such file"
    assert "folder" in _bad(read_flo5, tmp_path)
    text = tmp_path / "t.flo5"
    text.write_bytes(b"PIEH" + bytes(20))
    assert "not an HDF5 file (it starts with b'PIEH" in _bad(read_flo5, text)
    good = tmp_path / "g.flo5"
    write_flo5(good, np.zeros((8, 8, 2)))
    good.write_bytes(good.read_bytes()[:600])
    assert "a damaged HDF5 file" in _bad(read_flo5, good)
    assert "has no dataset 'flow' (found ['disparity'])" in _h5(tmp_path, disparity=((2, 2), "f4"))
    assert "has shape (4, 4, 3)" in _h5(tmp_path, flow=((4, 4, 3), "f4"))
    assert "has shape ()" in _h5(tmp_path, flow=((), "f4"))
    assert "has dtype int32" in _h5(tmp_path, flow=((4, 4, 2), "i4"))
    assert "has dtype complex64" in _h5(tmp_path, flow=((4, 4, 2), "c8"))
    huge = _h5(tmp_path, flow=((2**31 - 1, 2**31 - 1, 2), "f4"))  # would need 32 EiB: refused from the shape
    assert huge.startswith("corrupt .flo5 dataset 'flow': it declares 2147483647x2147483647 (WxH) pixels")
    path = tmp_path / "grp.flo5"
    with h5py.File(path, "w") as f:
        f.create_group("flow")
    assert "HDF5 group, not an array" in _bad(read_flo5, path)


def test_flo5_writer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(H, W, 2\).*got \(3, 3\)"):
        write_flo5(tmp_path / "x.flo5", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="real-valued"):
        write_flo5(tmp_path / "x.flo5", np.zeros((2, 2, 2), np.complex64))
    with pytest.raises(ValueError, match="finite flow or NaN.*got 1 infinite"):
        write_flo5(tmp_path / "x.flo5", np.array([[[np.inf, 0.0]]]))
    assert not list(tmp_path.iterdir())
