"""Cityscapes / BDD100k readers on tiny fixture trees written into tmp_path, and build_dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import assert_random_joint_flip
from winwin.data import (
    IGNORE_INDEX,
    BDD100kSegmentation,
    CityscapesSegmentation,
    build_dataset,
    denormalize,
)

H, W = 32, 64


def _write_pair(image_path: Path, label_path: Path | None, seed: int, label_hw: tuple[int, int] = (H, W)):
    """Random RGB image (H, W) and train-id label (label_hw) with some ignore pixels; returns both arrays."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    ids = rng.integers(0, 19, size=label_hw).astype(np.uint8)
    ids[:2, :5] = IGNORE_INDEX
    image_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(image_path)
    if label_path is not None:
        label_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ids, mode="L").save(label_path)
    return rgb, ids


def _cityscapes_paths(root: Path, split: str, city: str, stem: str) -> tuple[Path, Path]:
    return (
        root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
        root / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png",
    )


def _bdd_paths(root: Path, split: str, stem: str) -> tuple[Path, Path]:
    image = root / "images" / "10k" / split / f"{stem}.jpg"
    return image, root / "labels" / "sem_seg" / "masks" / split / f"{stem}.png"


@pytest.fixture
def cityscapes(tmp_path: Path) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Two cities, three pairs, written out of order; returns the root and {stem: (rgb, ids)}."""
    arrays = {}
    for seed, (city, stem) in enumerate([("zurich", "zurich_000001_000019"), ("aachen", "aachen_000002_000019"),
                                         ("aachen", "aachen_000000_000019")]):  # fmt: skip
        arrays[stem] = _write_pair(*_cityscapes_paths(tmp_path, "train", city, stem), seed=seed)
    (tmp_path / "gtFine" / "train" / "aachen" / "aachen_000000_000019_gtFine_color.png").touch()  # ignored
    return tmp_path, arrays


@pytest.fixture
def bdd(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    labels = {}
    for seed, stem in enumerate(["b2", "a1", "c3"]):
        labels[stem] = _write_pair(*_bdd_paths(tmp_path, "val", stem), seed=seed)[1]
    return tmp_path, labels


def test_cityscapes_pairs_sorted_and_read_exactly(cityscapes):
    root, arrays = cityscapes
    ds = CityscapesSegmentation(root, "train")
    stems = [p.name.replace("_leftImg8bit.png", "") for p, _ in ds.pairs]
    assert stems == ["aachen_000000_000019", "aachen_000002_000019", "zurich_000001_000019"]
    assert len(ds) == 3 and ds.num_classes == len(ds.classes) == len(ds.palette) == 19
    for i, stem in enumerate(stems):
        item = ds[i]
        rgb, ids = arrays[stem]
        assert item["index"] == i and item["path"].endswith(f"{stem}_leftImg8bit.png")
        assert item["image"].shape == (3, H, W) and item["image"].dtype == torch.float32
        assert item["label"].dtype == torch.int64 and torch.equal(item["label"], torch.from_numpy(ids.astype(np.int64)))
        back = (denormalize(item["image"]) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(back, rgb)


def test_bdd_pairs_and_batching(bdd):
    root, labels = bdd
    ds = BDD100kSegmentation(root, "val")
    assert [p.stem for p, _ in ds.pairs] == ["a1", "b2", "c3"]
    assert torch.equal(ds[2]["label"], torch.from_numpy(labels["c3"].astype(np.int64)))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["image"].shape == (3, 3, H, W) and batch["label"].shape == (3, H, W)
    assert [Path(p).name for p in batch["path"]] == ["a1.jpg", "b2.jpg", "c3.jpg"]


def test_flip_is_random_and_joint(cityscapes):
    root, _ = cityscapes
    plain = CityscapesSegmentation(root, "train")[0]
    flipping = CityscapesSegmentation(root, "train", flip=True)
    assert_random_joint_flip(plain, flipping)


def test_max_items_and_resize(cityscapes):
    root, _ = cityscapes
    ds = CityscapesSegmentation(root, "train", max_items=2, image_hw=(16, 24))
    assert len(ds) == 2 and ds.pairs[0][0].name.startswith("aachen_000000")
    item = ds[1]
    assert item["image"].shape == (3, 16, 24) and item["label"].shape == (16, 24)
    with pytest.raises(ValueError, match="max_items must be a positive"):
        CityscapesSegmentation(root, "train", max_items=0)


def test_missing_label_names_the_image_and_expected_file(cityscapes):
    root, _ = cityscapes
    image, label = _cityscapes_paths(root, "train", "bonn", "bonn_000003_000019")
    _write_pair(image, None, seed=9)
    with pytest.raises(FileNotFoundError, match=r"bonn_000003_000019_leftImg8bit\.png has no label file.*"
                                                r"bonn_000003_000019_gtFine_labelTrainIds\.png"):  # fmt: skip
        CityscapesSegmentation(root, "train")
    # With only the label-id map present, the message says how to make train ids.
    label.parent.mkdir(parents=True)
    Image.new("L", (W, H)).save(label.with_name("bonn_000003_000019_gtFine_labelIds.png"))
    with pytest.raises(FileNotFoundError, match="createTrainIdLabelImgs"):
        CityscapesSegmentation(root, "train")


def test_size_mismatch_names_both_files_and_sizes(bdd):
    root, _ = bdd
    image, label = _bdd_paths(root, "val", "d4")
    _write_pair(image, label, seed=7, label_hw=(H, 48))
    with pytest.raises(ValueError, match=rf"d4\.jpg is {W}x{H} \(WxH\) but its label .*d4\.png is 48x{H}"):
        BDD100kSegmentation(root, "val")


def test_missing_folders_and_empty_split(tmp_path, bdd):
    with pytest.raises(FileNotFoundError, match=r"(?s)cityscapes root .*nowhere is not a folder.*leftImg8bit"):
        CityscapesSegmentation(tmp_path / "nowhere", "train")
    root, _ = bdd
    with pytest.raises(FileNotFoundError, match=r"images/10k/train for split 'train' is missing .*\['val'\]"):
        BDD100kSegmentation(root, "train")
    (root / "images" / "10k" / "test").mkdir()
    (root / "labels" / "sem_seg" / "masks" / "test").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no images found in .*10k/test"):
        BDD100kSegmentation(root, "test")


def test_label_ids_outside_train_ids_are_reported(tmp_path):
    image, label = _cityscapes_paths(tmp_path, "val", "lindau", "lindau_000000_000019")
    _write_pair(image, None, seed=0)
    label.parent.mkdir(parents=True)
    Image.fromarray(np.full((H, W), 33, dtype=np.uint8), mode="L").save(label)  # a label id, not a train id
    ds = CityscapesSegmentation(tmp_path, "val")
    with pytest.raises(ValueError, match=r"values \[33\] outside train ids 0\.\.18"):
        ds[0]


def test_build_dataset_readers_and_errors(cityscapes):
    root, _ = cityscapes
    ds = build_dataset("cityscapes", "train", root=str(root), flip=True, max_items=2)
    assert isinstance(ds, CityscapesSegmentation) and len(ds) == 2 and ds.flip
    with pytest.raises(ValueError, match="unknown dataset 'kitti'; known datasets: bdd100k, cityscapes, .*kitti_depth"):
        build_dataset("kitti", "train")
    with pytest.raises(ValueError, match="'bdd100k' is read from disk: pass root="):
        build_dataset("bdd100k", "train")
    with pytest.raises(ValueError, match="use max_items=5"):
        build_dataset("cityscapes", "train", root=str(root), length=5)
