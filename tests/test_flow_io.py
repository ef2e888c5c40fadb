"""The .flo file format (exact round trip, the header byte by byte, every way a file can be wrong) and the
Middlebury colour wheel (colours hand-computed from the wheel's definition)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from winwin.data.flow_io import MAX_SIDE, read_flo, read_flo_hw, write_flo
from winwin.data.flow_viz import colour_wheel, flow_to_color
from winwin.errors import BadFileError


def _flow(h: int = 5, w: int = 7) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 30, (h, w, 2)).astype(np.float32)


def _write_raw(path, magic: float, w: int, h: int, n_values: int, fmt: str = "<fii") -> None:
    path.write_bytes(struct.pack(fmt, magic, w, h) + np.zeros(n_values, "<f4").tobytes())


# -- .flo -------------------------------------------------------------------------------------------------------
def test_round_trip_is_exact_including_unknown_and_non_finite_values(tmp_path):
    flow = _flow()
    flow[0, 0] = (np.nan, np.inf)
    flow[1, 2] = (1e10, -np.inf)  # Middlebury's "unknown"
    path = tmp_path / "sub" / "a.flo"  # the folder is created
    write_flo(path, flow)
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == (5, 7, 2)
    assert back.tobytes() == flow.tobytes()  # bit-exact, NaN included
    assert read_flo_hw(path) == (5, 7)
    assert [p.name for p in path.parent.iterdir()] == ["a.flo"]  # no temporary file left behind
    write_flo(path, np.zeros((2, 3, 2)))  # float64 is stored as float32, over the old file
    np.testing.assert_array_equal(read_flo(path), np.zeros((2, 3, 2), np.float32))


def test_header_and_layout_byte_by_byte(tmp_path):
    flow = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)  # (H=2, W=3, 2): u = even, v = odd numbers
    path = tmp_path / "b.flo"
    write_flo(path, flow)
    data = path.read_bytes()
    assert data[:4] == b"PIEH" == struct.pack("<f", 202021.25)
    assert struct.unpack("<ii", data[4:12]) == (3, 2)  # width first, then height
    assert len(data) == 12 + 8 * 3 * 2
    # Row-major, (u, v) interleaved: pixel (row 0, col 1) holds (2, 3); pixel (row 1, col 0) holds (6, 7).
    values = struct.unpack("<12f", data[12:])
    assert values[2:4] == (2.0, 3.0) and values[6:8] == (6.0, 7.0) and values == tuple(range(12))


@pytest.mark.parametrize("shape", [(4, 4), (4, 4, 3), (0, 4, 2), (2, 4, 4, 2)])
def test_writer_rejects_wrong_shapes(tmp_path, shape):
    with pytest.raises(ValueError, match=r"expected a flow field of shape \(H, W, 2\).*got \(" + str(shape[0])):
        write_flo(tmp_path / "c.flo", np.zeros(shape, np.float32))
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="real-valued"):
        write_flo(tmp_path / "c.flo", np.zeros((2, 2, 2), np.complex64))


def _bad(path) -> str:
    with pytest.raises(BadFileError) as info:
        read_flo(path)
    assert str(info.value).startswith(str(path)) and info.value.path == path
    return info.value.problem


def test_missing_file_and_folder(tmp_path):
    assert _bad(tmp_path / "missing.flo") == "no such file"
    assert "folder" in _bad(tmp_path)


def test_wrong_magic_names_the_value_found(tmp_path):
    png = tmp_path / "image.flo"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    problem = _bad(png)
    assert "wrong magic" in problem and "202021.25" in problem and "\\x89PNG" in problem
    other = tmp_path / "other.flo"
    _write_raw(other, 1.5, 2, 2, 8)
    assert "found 1.5" in _bad(other)
    big_endian = tmp_path / "big.flo"
    _write_raw(big_endian, 202021.25, 2, 2, 8, fmt=">fii")
    assert "big-endian" in _bad(big_endian)


def test_truncated_and_too_long_files_say_expected_and_got(tmp_path):
    path = tmp_path / "t.flo"
    write_flo(path, _flow(4, 6))
    data = path.read_bytes()
    path.write_bytes(data[:-4])
    assert _bad(path) == f"truncated: expected {12 + 8 * 24} bytes for 6x4 (WxH) flow, got {12 + 8 * 24 - 4}"
    path.write_bytes(data + b"\0")
    assert _bad(path).startswith("too long (trailing bytes): expected 204 bytes")
    path.write_bytes(data[:7])
    assert _bad(path) == "truncated: expected a 12-byte .flo header, got 7 bytes"
    path.write_bytes(b"")
    assert "got 0 bytes" in _bad(path)


@pytest.mark.parametrize("w, h", [(0, 5), (5, -1), (-(2**31), 3), (MAX_SIDE + 1, 1), (2**31 - 1, 2**31 - 1)])
def test_absurd_header_sizes_are_refused_before_reading(tmp_path, w, h):
    path = tmp_path / "h.flo"
    _write_raw(path, 202021.25, w, h, 4)  # a tiny file: only the header's claim is absurd
    problem = _bad(path)
    assert problem.startswith(f"corrupt .flo header: it declares {w}x{h} (WxH) pixels") and str(MAX_SIDE) in problem


def test_header_that_overflows_the_pixel_budget(tmp_path):
    path = tmp_path / "p.flo"
    _write_raw(path, 202021.25, MAX_SIDE, MAX_SIDE, 0)  # each side allowed, the product is not
    assert "at most" in _bad(path)


# -- colour wheel -----------------------------------------------------------------------------------------------
def test_wheel_definition():
    wheel = colour_wheel()
    assert wheel.shape == (55, 3)
    # The ramps start at red, yellow, green, cyan, blue, magenta (RY=15, YG=6, GC=4, CB=11, BM=13, MR=6).
    starts = {0: (255, 0, 0), 15: (255, 255, 0), 21: (0, 255, 0), 25: (0, 255, 255), 36: (0, 0, 255), 49: (255, 0, 255)}
    for k, rgb in starts.items():
        assert tuple(wheel[k]) == rgb, k
    assert tuple(wheel[1]) == (255, 17, 0)  # floor(255 / 15)
    assert tuple(wheel[54]) == (255, 0, 255 - 212)  # MR, last step: 255 - floor(255 * 5 / 6)


def _colour(u: float, v: float, max_flow: float | None = 1.0) -> tuple[int, ...]:
    return tuple(int(c) for c in flow_to_color(np.array([[[u, v]]], np.float32), max_flow)[0, 0])


def test_directions_have_the_wheel_hues():
    assert _colour(1, 0) == (255, 0, 0)  # +u: a = atan2(-0, -1) / pi = -1 -> wheel[0], red
    assert _colour(1, -0.0) == (255, 0, 0)  # the same direction, the same colour
    assert _colour(-1, 0) == (0, 209, 255)  # -u: a = 0 -> k = 27, wheel[27] = CB step 2: G = 255 - floor(510 / 11)
    # +v (downwards): a = -1/2 -> k = 13.5, halfway between RY steps 13 and 14: G = (221 + 238) / 2 = 229.5
    assert _colour(0, 1) in ((255, 229, 0), (255, 230, 0))
    # -v (upwards): a = 1/2 -> k = 40.5, halfway between BM steps 4 and 5: R = (78 + 98) / 2 = 88
    assert _colour(0, -1) == (88, 0, 255)


def test_saturation_follows_the_normalised_magnitude():
    assert _colour(0, 0, None) == (255, 255, 255)  # zero flow is white
    assert _colour(1, 0, 2.0) == (255, 127, 127)  # half the maximum: 1 - 0.5 (1 - colour)
    assert _colour(2, 0, 1.0) == (191, 0, 0)  # beyond the maximum: the wheel colour darkened to 75 %
    flow = np.array([[[1, 0], [2, 0], [np.nan, 0], [3e9, 0]]], np.float32)  # (1, 4, 2)
    out = flow_to_color(flow)  # max_flow: the largest finite known magnitude, 2
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    assert out[0].tolist() == [[255, 127, 127], [255, 0, 0], [0, 0, 0], [0, 0, 0]]  # unknown and NaN: black
    assert (flow_to_color(np.zeros((3, 4, 2))) == 255).all()
    assert flow_to_color(np.ones((6, 5, 2), np.float64), max_flow=3.0).shape == (6, 5, 3)


def test_colour_errors():
    with pytest.raises(ValueError, match=r"shape \(H, W, 2\), got \(4, 4, 3\)"):
        flow_to_color(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="max_flow must be a positive finite number of pixels, got 0"):
        flow_to_color(np.zeros((4, 4, 2)), max_flow=0)
