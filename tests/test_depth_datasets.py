"""The NYUv2 / PNG-export / KITTI depth datasets on tiny folder layouts written into tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from depth_fixtures import DRIVES, H, W, kitti_paths, write_rgb, write_splits, write_uint16_png
from helpers import assert_random_joint_flip
from winwin.data.depth_folders import DepthPNGFolder, KITTIDepth, NYUv2Labeled
from winwin.data.transforms import to_tensor_image
from winwin.errors import BadFileError, InputError


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
    write_splits(root / "splits.mat", [1, 7], [2])  # index 7 of a 5-image file
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
    write_rgb(root / "train" / "rgb" / "a.jpg", arrays["a"][0])
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
    write_uint16_png(root / "train" / "depth" / "b.png", np.ones((H, W + 1)))
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
    image_path, _ = kitti_paths(root, image_root, DRIVES[1], "0000000006")
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


def test_flip_mirrors_image_and_depth_together(nyu, png_folder, kitti):
    assert_random_joint_flip(NYUv2Labeled(nyu[0], "train")[0], NYUv2Labeled(nyu[0], "train", flip=True), "depth")
    folder = png_folder[0]
    assert_random_joint_flip(DepthPNGFolder(folder, "train")[0], DepthPNGFolder(folder, "train", flip=True), "depth")
    root, image_root, _ = kitti
    plain, flipping = KITTIDepth(root, "train", image_root), KITTIDepth(root, "train", image_root, flip=True)
    assert_random_joint_flip(plain[0], flipping, "depth")
