"""Depth file formats and the NYUv2 / PNG-export / KITTI readers on tiny fixture files written into tmp_path."""

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

from winwin.data.depth_folders import DepthPNGFolder, KITTIDepth, NYUv2Labeled
from winwin.data.depth_io import PNG_SIGNATURE, NYUv2Mat, depth_png_hw, read_depth_png, read_nyu_splits, write_depth_png
from winwin.data.transforms import to_tensor_image
from winwin.errors import BadFileError, InputError

N, H, W = 5, 24, 32
MATLAB_73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  2 10:00:00 2012 HDF5 schema 1.00 ."


# -- fixtures -------------------------------------------------------------------------------------------------
def _write_uint16_png(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint16)).save(path)


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def _write_nyu_mat(path: Path, rgb: np.ndarray, depth: np.ndarray, **replace) -> None:
    """(N, H, W, 3) / (N, H, W) as MATLAB v7.3 stores HxWx3xN / HxWxN: axes reversed behind a 512-byte header.

    ``replace`` swaps a stored array (already in HDF5 order) or drops it (None).
    """
    stored = {"images": rgb.transpose(0, 3, 2, 1), "depths": depth.transpose(0, 2, 1), **replace}
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in stored.items():
            if value is not None:
                f[key] = value
    with open(path, "r+b") as f:
        f.write(MATLAB_73_HEADER)


def _write_splits(path: Path, train: list[int], test: list[int], hdf5: bool = False) -> None:
    """1-based MATLAB column vectors (doubles, like the official file); v5 by scipy or v7.3 (HDF5: 1 x n)."""
    column = {"trainNdxs": np.array(train, dtype=float)[:, None], "testNdxs": np.array(test, dtype=float)[:, None]}
    if not hdf5:
        scipy.io.savemat(path, column)
        return
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in column.items():
            f[key] = value.T  # (1, n)


@pytest.fixture
def nyu(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """ROOT with nyu_depth_v2_labeled.mat (5 images of 24x32) and splits.mat (train 1,3,5; test 2,4)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(N, H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.5, size=(N, H, W)).astype(np.float32)
    _write_nyu_mat(tmp_path / "nyu_depth_v2_labeled.mat", rgb, depth)
    _write_splits(tmp_path / "splits.mat", [1, 3, 5], [2, 4])
    return tmp_path, rgb, depth


@pytest.fixture
def png_folder(tmp_path: Path) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """ROOT/train/{rgb,depth}: three pairs (one .jpg image), depth in millimetres with some zeros."""
    rng = np.random.default_rng(1)
    arrays = {}
    for stem, suffix in (("b", ".png"), ("a", ".png"), ("c", ".jpg")):
        rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        mm = rng.integers(1, 10_000, size=(H, W))
        mm[:3, :4] = 0
        _write_rgb(tmp_path / "train" / "rgb" / f"{stem}{suffix}", rgb)
        _write_uint16_png(tmp_path / "train" / "depth" / f"{stem}.png", mm)
        arrays[stem] = (rgb, mm)
    return tmp_path, arrays


DRIVES = ("2011_09_26_drive_0001_sync", "2011_10_03_drive_0042_sync")


def _kitti_paths(root: Path, image_root: Path, drive: str, frame: str) -> tuple[Path, Path]:
    depth = root / "train" / drive / "proj_depth" / "groundtruth" / "image_02" / f"{frame}.png"
    return image_root / drive[:10] / drive / "image_02" / "data" / f"{frame}.png", depth


@pytest.fixture
def kitti(tmp_path: Path) -> tuple[Path, Path, dict[Path, np.ndarray]]:
    """Depth benchmark ROOT and raw IMAGE_ROOT: two drives of two dates, two frames each, sparse uint16 / 256."""
    root, image_root, raw = tmp_path / "depth", tmp_path / "raw", {}
    rng = np.random.default_rng(2)
    for drive in DRIVES:
        for frame in ("0000000005", "0000000006"):
            image_path, depth_path = _kitti_paths(root, image_root, drive, frame)
            values = rng.integers(1, 80 * 256, size=(H, W)) * (rng.random((H, W)) < 0.3)  # 0 = no LiDAR point
            _write_uint16_png(depth_path, values)
            _write_rgb(image_path, rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8))
            raw[image_path] = values
    return root, image_root, raw


# -- depth PNGs -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1000.0, 256.0])
def test_depth_png_reads_value_over_scale_and_keeps_zero(tmp_path, scale):
    values = np.array([[0, 1, 255, 256], [1000, 4567, 65534, 65535]])
    _write_uint16_png(tmp_path / "d.png", values)
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
    _write_uint16_png(tmp_path / "d.png", noise)
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
    _write_nyu_mat(path, rgb, depth)
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
    _write_nyu_mat(path, np.zeros((N, H, W, 3), dtype=np.uint8), np.ones((N, H, W), dtype=np.float32), **replace)
    with pytest.raises(BadFileError, match=message) as info:
        NYUv2Mat(path)
    assert str(info.value).startswith(str(path))


def test_nyu_mat_rejects_non_hdf5_v5_and_truncated_files(tmp_path):
    (tmp_path / "text.mat").write_text("not a mat file at all" * 40)
    scipy.io.savemat(tmp_path / "v5.mat", {"images": np.zeros((2, 2))})
    _write_nyu_mat(tmp_path / "cut.mat", np.zeros((N, H, W, 3), np.uint8), np.ones((N, H, W), np.float32))
    data = (tmp_path / "cut.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(data[: len(data) - 2000])
    cases = {"text.mat": "no HDF5 file", "v5.mat": "MATLAB v5 .mat file.*v7.3", "cut.mat": "truncated"}
    for name, message in cases.items():
        with pytest.raises(BadFileError, match=message) as info:
            NYUv2Mat(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name))


@pytest.mark.parametrize("hdf5", [False, True])
def test_nyu_splits_v5_and_hdf5_give_0_based_indices(tmp_path, hdf5):
    _write_splits(tmp_path / "splits.mat", [5, 1, 3], [2, 4], hdf5=hdf5)
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
    _write_splits(tmp_path / "splits.mat", train, test, hdf5=hdf5)
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


# -- datasets -------------------------------------------------------------------------------------------------
def test_nyuv2_labeled_reads_the_split_images(nyu):
    root, rgb, depth = nyu
    train, test, val = (NYUv2Labeled(root, split) for split in ("train", "test", "val"))
    assert (len(train), len(test), len(val)) == (3, 2, 2)
    assert (train.min_depth, train.max_depth, train.name) == (1e-3, 10.0, "nyuv2")
    sample = train[1]  # the second train image: 1-based 3 -> 0-based 2
    assert torch.equal(sample["image"], to_tensor_image(rgb[2])) and sample["image"].shape == (3, H, W)
    assert torch.equal(sample["depth"], torch.from_numpy(depth[2])) and sample["depth"].dtype == torch.float32
    assert sample["index"] == 1 and sample["path"] == str(root / "nyu_depth_v2_labeled.mat" / "0002")
    assert torch.equal(val[1]["depth"], test[1]["depth"]) and torch.equal(test[1]["depth"], torch.from_numpy(depth[3]))
    assert NYUv2Labeled(root, "train", max_items=2).indices == [0, 2]


def test_nyuv2_labeled_checks_split_and_layout(nyu):
    root, _, _ = nyu
    with pytest.raises(InputError, match="'train' .* 'test'"):
        NYUv2Labeled(root, "training")
    (root / "splits.mat").unlink()
    with pytest.raises(BadFileError, match="(?s)splits.mat: is missing.*expects the layout.*trainNdxs") as info:
        NYUv2Labeled(root, "train")
    assert str(info.value).startswith(str(root / "splits.mat"))
    _write_splits(root / "splits.mat", [1, 7], [2])  # index 7 of a 5-image file
    with pytest.raises(BadFileError, match="outside 1..5"):
        NYUv2Labeled(root, "train")


def test_resize_on_load_image_bilinear_depth_nearest(nyu, png_folder, kitti):
    root, _, depth = nyu
    for dataset, source in (
        (NYUv2Labeled(root, "train", image_hw=(12, 20)), depth[0]),
        (DepthPNGFolder(png_folder[0], "train", image_hw=(12, 20)), png_folder[1]["a"][1] / 1000.0),
    ):
        sample = dataset[0]
        assert sample["image"].shape == (3, 12, 20) and sample["depth"].shape == (12, 20)
        values = set(np.float32(source).ravel().tolist())
        assert set(sample["depth"].ravel().tolist()) <= values  # nearest: no blended depths
    kitti_sample = KITTIDepth(kitti[0], "train", kitti[1], image_hw=(12, 20))[0]
    assert (kitti_sample["depth"] == 0).any() and kitti_sample["depth"].shape == (12, 20)


def test_depth_png_folder_pairs_images_with_millimetre_depth(png_folder):
    root, arrays = png_folder
    dataset = DepthPNGFolder(root, "train")
    assert [Path(p).name for p, _ in dataset.pairs] == ["a.png", "b.png", "c.jpg"]
    sample = dataset[1]
    rgb, mm = arrays["b"]
    assert torch.equal(sample["image"], to_tensor_image(rgb))
    np.testing.assert_array_equal(sample["depth"].numpy(), (mm / 1000.0).astype(np.float32))
    assert (sample["depth"][:3, :4] == 0).all() and sample["path"] == str(root / "train" / "rgb" / "b.png")
    assert dataset[2]["image"].shape == (3, H, W)  # the .jpg
    assert len(DepthPNGFolder(root, "train", max_items=2)) == 2
    assert DepthPNGFolder(root, "train", scale=256.0)[1]["depth"][5, 5] == np.float32(mm[5, 5] / 256.0)
    _write_rgb(root / "train" / "rgb" / "a.jpg", arrays["a"][0])
    with pytest.raises(BadFileError, match=r"a\.png: and a\.jpg share a stem"):
        DepthPNGFolder(root, "train")


def test_depth_png_folder_checks_layout_pairs_and_sizes(png_folder):
    root, _ = png_folder
    with pytest.raises(
        BadFileError, match=r"(?s)folder is missing \(folders next to it: \['train'\]\).*\{stem\}"
    ) as info:
        DepthPNGFolder(root, "val")
    assert str(info.value).startswith(str(root / "val"))
    (root / "train" / "depth" / "b.png").unlink()
    with pytest.raises(BadFileError, match=r"is missing: the image .*b\.png has no depth map") as info:
        DepthPNGFolder(root, "train")
    assert str(info.value).startswith(str(root / "train" / "depth" / "b.png"))
    _write_uint16_png(root / "train" / "depth" / "b.png", np.ones((H, W + 1)))
    with pytest.raises(BadFileError, match=r"is 33x24 \(WxH\) but its image .*b\.png is 32x24"):
        DepthPNGFolder(root, "train")
    Image.fromarray(np.ones((H, W), dtype=np.uint8)).save(root / "train" / "depth" / "b.png")
    with pytest.raises(BadFileError, match="8-bit PNG"):  # checked at construction, from the header
        DepthPNGFolder(root, "train")


def test_kitti_pairs_depth_with_raw_images_by_date(kitti):
    root, image_root, raw = kitti
    dataset = KITTIDepth(root, "train", image_root)
    assert len(dataset) == 4 and (dataset.min_depth, dataset.max_depth, dataset.name) == (1e-3, 80.0, "kitti")
    for i, (image_path, _) in enumerate(dataset.pairs):
        sample = dataset[i]
        assert sample["path"] == str(image_path) and image_path.parts[-5] == image_path.parts[-4][:10]
        with Image.open(image_path) as image:
            assert torch.equal(sample["image"], to_tensor_image(np.asarray(image)))
        np.testing.assert_array_equal(sample["depth"].numpy(), (raw[image_path] / 256.0).astype(np.float32))
    assert (dataset[0]["depth"] == 0).any()


def test_kitti_explains_missing_images_and_folders(kitti):
    root, image_root, _ = kitti
    image_path, _ = _kitti_paths(root, image_root, DRIVES[1], "0000000006")
    undated = image_root / DRIVES[1]
    (image_root / DRIVES[1][:10]).rename(image_root / "moved")
    (image_root / "moved" / DRIVES[1]).rename(undated)
    with pytest.raises(BadFileError, match="(?s)has no image.*the raw data must sit in its date folder") as info:
        KITTIDepth(root, "train", image_root)
    assert str(info.value).startswith(str(image_path.with_name("0000000005.png")))
    (undated / "image_02" / "data" / "0000000005.png").unlink()
    with pytest.raises(BadFileError, match="raw-data drive .*2011_10_03_drive_0042_sync is missing"):
        KITTIDepth(root, "train", image_root)
    with pytest.raises(BadFileError, match=r"folders next to it: \['train'\]"):
        KITTIDepth(root, "val", image_root)
    with pytest.raises(BadFileError, match="is not a folder"):
        KITTIDepth(root, "train", image_root / "nowhere")
    (root / "train" / DRIVES[0]).rename(root / "train" / "drive_0001")
    with pytest.raises(BadFileError, match="drive_0001: is not named like a KITTI drive"):
        KITTIDepth(root, "train", image_root)
    (root / "val" / DRIVES[0] / "proj_depth" / "velodyne_raw").mkdir(parents=True)
    with pytest.raises(BadFileError, match="(?s)val: holds no depth maps.*velodyne_raw is the sparse LiDAR input"):
        KITTIDepth(root, "val", image_root)


def _assert_random_joint_flip(dataset_plain, dataset_flipping) -> None:
    """Each draw is the plain sample or its mirror image, image and depth together, and both outcomes occur."""
    plain = dataset_plain[0]
    assert not torch.equal(plain["depth"], plain["depth"].flip(-1))
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        item = dataset_flipping[0]
        flipped = torch.equal(item["depth"], plain["depth"].flip(-1))
        assert flipped or torch.equal(item["depth"], plain["depth"])
        assert torch.equal(item["image"], plain["image"].flip(-1) if flipped else plain["image"])
        seen.add(flipped)
    assert seen == {True, False}


def test_flip_mirrors_image_and_depth_together(nyu, png_folder, kitti):
    _assert_random_joint_flip(NYUv2Labeled(nyu[0], "train"), NYUv2Labeled(nyu[0], "train", flip=True))
    _assert_random_joint_flip(DepthPNGFolder(png_folder[0], "train"), DepthPNGFolder(png_folder[0], "train", flip=True))
    root, image_root, _ = kitti
    _assert_random_joint_flip(KITTIDepth(root, "train", image_root), KITTIDepth(root, "train", image_root, flip=True))
