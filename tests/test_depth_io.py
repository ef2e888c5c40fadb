"""Depth file formats (16-bit PNGs, NYUv2 .mat and splits.mat) on tiny fixture files written into tmp_path."""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import h5py
import hypothesis.strategies as st
import numpy as np
import pytest
import scipy.io
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image
from torch.utils.data import DataLoader

from depth_fixtures import H, N, W, write_nyu_mat, write_splits, write_uint16_png
from winwin.data.depth_folders import NYUv2Labeled
from winwin.data.depth_io import PNG_SIGNATURE, NYUv2Mat, depth_png_hw, read_depth_png, read_nyu_splits, write_depth_png
from winwin.errors import BadFileError, InputError


# -- depth PNGs -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1000.0, 256.0])
def test_depth_png_reads_value_over_scale_and_keeps_zero(tmp_path, scale):
    values = np.array([[0, 1, 255, 256], [1000, 4567, 65534, 65535]])
    write_uint16_png(tmp_path / "d.png", values)
    depth = read_depth_png(tmp_path / "d.png", scale)
    assert depth.dtype == np.float32 and depth.shape == (2, 4)
    assert depth[0, 0] == 0
    np.testing.assert_array_equal(depth, (values / scale).astype(np.float32))
    assert depth_png_hw(tmp_path / "d.png") == (2, 4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    depth=arrays(
        np.float64,
        array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=7),
        elements=st.floats(0, 300) | st.sampled_from([np.nan, np.inf, -np.inf, -2.0, 1e-9, 1e308]),
    ),
    scale=st.sampled_from([1000.0, 256.0]),
)
def test_write_then_read_is_within_half_a_step(tmp_path, depth, scale):
    write_depth_png(tmp_path / "d.png", depth, scale)
    back = read_depth_png(tmp_path / "d.png", scale)
    step, valid = 1.0 / scale, np.isfinite(depth) & (depth > 0)
    assert back.shape == depth.shape
    assert (back[~valid] == 0).all() and (back[valid] > 0).all()  # validity survives the round trip
    expected = np.minimum(depth, 65535 * step)  # saturates at the largest uint16
    tolerance = np.where(depth >= step / 2, step / 2, step) + 1e-5  # tiny positives are written as 1
    assert (np.abs(back - expected)[valid] <= tolerance[valid]).all()


def test_write_depth_png_maps_invalid_to_zero_and_saturates(tmp_path):
    depth = np.array([[np.nan, np.inf, -1.0, 0.0], [1e-6, 0.0125, 70.0, 1.0]])
    write_depth_png(tmp_path / "d.png", depth, 1000.0)
    with Image.open(tmp_path / "d.png") as image:
        assert image.mode.startswith("I;16")
        stored = np.asarray(image)
    np.testing.assert_array_equal(stored, [[0, 0, 0, 0], [1, 12, 65535, 1000]])  # 12.5 rounds half to even
    with pytest.raises(InputError, match="scale"):
        write_depth_png(tmp_path / "d.png", depth, 0.0)
    with pytest.raises(InputError, match=r"\(H, W\)"):
        write_depth_png(tmp_path / "d.png", np.ones((2, 2, 3)), 1000.0)


def test_depth_png_rejects_8bit_rgb_text_and_missing_files(tmp_path):
    Image.fromarray(np.full((4, 4), 7, dtype=np.uint8)).save(tmp_path / "eight.png")
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "colour.png")
    (tmp_path / "text.png").write_text("this is not an image")
    (tmp_path / "sig.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 4)
    cases = {"eight.png": "8-bit PNG.*has lost its depth", "colour.png": "3-channel PNG.*mode RGB",
             "text.png": "is not a PNG file", "sig.png": "unreadable header", "none.png": "no such file"}  # fmt: skip
    for name, message in cases.items():
        for read in (lambda p: read_depth_png(p, 1000.0), depth_png_hw):
            with pytest.raises(BadFileError, match=message) as info:
                read(tmp_path / name)
            assert str(info.value).startswith(str(tmp_path / name))


def test_truncated_depth_png_passes_the_header_check_but_not_the_read(tmp_path):
    noise = np.random.default_rng(0).integers(0, 65536, size=(H, W))  # incompressible: the pixels fill the file
    write_uint16_png(tmp_path / "d.png", noise)
    data = (tmp_path / "d.png").read_bytes()
    (tmp_path / "d.png").write_bytes(data[: len(data) // 2])
    assert depth_png_hw(tmp_path / "d.png") == (H, W)  # the header alone is intact: nothing decoded
    with pytest.raises(BadFileError, match="truncated") as info:
        read_depth_png(tmp_path / "d.png", 1000.0)
    assert str(info.value).startswith(str(tmp_path / "d.png"))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_depth_png_size_is_checked_from_the_header_before_decoding(tmp_path):
    def header_only(w: int, h: int) -> Path:  # a 16-bit greyscale IHDR and an empty IDAT: no pixels at all
        ihdr = struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)
        path = tmp_path / f"{w}x{h}.png"
        path.write_bytes(PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b""))
        return path

    assert depth_png_hw(header_only(30, 20)) == (20, 30)
    with pytest.raises(BadFileError, match=r"declares 9000x9000 \(WxH\) pixels; expected between 1 and"):
        read_depth_png(header_only(9000, 9000), 1000.0)  # 81M pixels: refused before allocating 324 MB


# -- NYUv2 .mat files -----------------------------------------------------------------------------------------
def test_nyu_mat_puts_pixels_back_where_matlab_had_them(tmp_path):
    rgb = np.zeros((N, H, W, 3), dtype=np.uint8)
    depth = np.full((N, H, W), 2.0, dtype=np.float32)
    rgb[3, 5, 7] = (10, 20, 30)  # (image, row, col, channel)
    depth[3, 5, 7], depth[3, 0, 1] = 1.25, np.nan
    path = tmp_path / "nyu_depth_v2_labeled.mat"
    write_nyu_mat(path, rgb, depth)
    with h5py.File(path, "r") as f:  # the fixture is MATLAB's order: images(row, col, ch, n) at [n, ch, col, row]
        assert f["images"].shape == (N, 3, W, H) and f["images"][3, 1, 7, 5] == 20
    assert path.read_bytes().startswith(b"MATLAB 7.3")  # HDF5 signature at 512, after MATLAB's text header
    mat = NYUv2Mat(path)
    assert len(mat) == N and mat.image_hw == (H, W)
    image, d = mat.read(3)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8 and d.shape == (H, W) and d.dtype == np.float32
    assert image[5, 7].tolist() == [10, 20, 30] and int(image.sum()) == 60
    assert d[5, 7] == 1.25 and d[0, 1] == 0  # NaN (unknown) becomes 0
    with pytest.raises(IndexError):
        mat.read(N)


def test_nyu_mat_handle_is_left_behind_by_pickle_and_opened_per_worker(nyu):
    root, _, _ = nyu
    dataset = NYUv2Labeled(root, "train")
    first = dataset[0]  # opens the handle in this process
    copy = pickle.loads(pickle.dumps(dataset))  # what a spawned DataLoader worker receives
    assert copy.mat._file is None and torch.equal(copy[0]["depth"], first["depth"])
    loader = DataLoader(dataset, batch_size=1, num_workers=2, multiprocessing_context="fork")
    for i, batch in enumerate(loader):
        assert torch.equal(batch["image"][0], dataset[i]["image"])


@pytest.mark.parametrize(
    "replace, message",
    [
        ({"depths": None}, "has no 'depths'"),
        ({"images": np.zeros((N, 4, W, H), dtype=np.uint8)}, r"images is \(5, 4, 32, 24\)"),
        ({"images": np.zeros((N, 3, W, H), dtype=np.float32)}, "images is float32; expected uint8"),
        (
            {"depths": np.zeros((N - 1, W, H), dtype=np.float32)},
            r"depths is \(4, 32, 24\).*expected depths \(5, 32, 24\)",
        ),
        ({"depths": np.zeros((N, H, W), dtype=np.float32)}, "depths is .* in HDF5 order"),  # not transposed
        ({"depths": np.zeros((N, W, H), dtype=np.uint16)}, "depths is uint16; expected floating-point"),
    ],
)
def test_nyu_mat_rejects_bad_keys_shapes_and_dtypes(tmp_path, replace, message):
    path = tmp_path / "nyu_depth_v2_labeled.mat"
    write_nyu_mat(path, np.zeros((N, H, W, 3), dtype=np.uint8), np.ones((N, H, W), dtype=np.float32), **replace)
    with pytest.raises(BadFileError, match=message) as info:
        NYUv2Mat(path)
    assert str(info.value).startswith(str(path))


def test_nyu_mat_rejects_non_hdf5_v5_and_truncated_files(tmp_path):
    (tmp_path / "text.mat").write_text("not a mat file at all" * 40)
    scipy.io.savemat(tmp_path / "v5.mat", {"images": np.zeros((2, 2))})
    write_nyu_mat(tmp_path / "cut.mat", np.zeros((N, H, W, 3), np.uint8), np.ones((N, H, W), np.float32))
    data = (tmp_path / "cut.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(data[: len(data) - 2000])
    cases = {"text.mat": "no HDF5 file", "v5.mat": "MATLAB v5 .mat file.*v7.3", "cut.mat": "truncated"}
    for name, message in cases.items():
        with pytest.raises(BadFileError, match=message) as info:
            NYUv2Mat(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name))


@pytest.mark.parametrize("hdf5", [False, True])
def test_nyu_splits_v5_and_hdf5_give_0_based_indices(tmp_path, hdf5):
    write_splits(tmp_path / "splits.mat", [5, 1, 3], [2, 4], hdf5=hdf5)
    splits = read_nyu_splits(tmp_path / "splits.mat", num_items=N)
    assert splits["train"].tolist() == [4, 0, 2] and splits["test"].tolist() == [1, 3]
    assert splits["train"].dtype == np.int64


@pytest.mark.parametrize("hdf5", [False, True])
@pytest.mark.parametrize(
    "train, test, message",
    [
        ([1, 6], [2], r"trainNdxs holds 1 indices outside 1..5, e.g. \[6\]"),
        ([0, 1], [2], "outside 1..5.*saved 0-based"),
        ([1, 3, 3], [2], r"trainNdxs repeats indices \[3\]"),
        ([1, 2], [2, 4], r"share 1 images, e.g. \[2\]"),
        ([1.5, 2], [3], "non-integer"),
    ],
)
def test_nyu_splits_reject_bad_indices(tmp_path, hdf5, train, test, message):
    write_splits(tmp_path / "splits.mat", train, test, hdf5=hdf5)
    with pytest.raises(BadFileError, match=message) as info:
        read_nyu_splits(tmp_path / "splits.mat", num_items=N)
    assert str(info.value).startswith(str(tmp_path / "splits.mat"))


def test_nyu_splits_reject_missing_keys_and_other_files(tmp_path):
    scipy.io.savemat(tmp_path / "v5.mat", {"trainNdxs": np.ones((2, 1))})
    with h5py.File(tmp_path / "h5.mat", "w") as f:
        f["testNdxs"] = np.ones((1, 2))
    (tmp_path / "text.mat").write_text("trainNdxs testNdxs")
    cases = {"v5.mat": "has no 'testNdxs'", "h5.mat": "has no 'trainNdxs'", "text.mat": "neither a MATLAB v5 nor"}
    for name, message in cases.items():
        with pytest.raises(BadFileError, match=message):
            read_nyu_splits(tmp_path / name, num_items=N)
