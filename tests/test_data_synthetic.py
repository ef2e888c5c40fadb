"""The synthetic long-range dataset: determinism, shapes, and the property it exists for (the class of an
object is decided only by a cue far away in the image)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from helpers import assert_random_joint_flip
from winwin.data import SceneSpec, SyntheticSegmentation, build_dataset, colorize
from winwin.data.synthetic_scene import HUES, NUM_MODES, SHAPES, render_scene

N_IMAGES = 72  # enough objects (about 300) for the statistics below, a fraction of a second to generate


@pytest.fixture(scope="module")
def train() -> SyntheticSegmentation:
    ds = SyntheticSegmentation("train", length=N_IMAGES, seed=3, cache=True)
    ds.fill_cache()
    return ds


def _object_pixels(ds: SyntheticSegmentation, index: int):
    """Per object of sample ``index``: (scene object, its uint8 RGB pixels (n, 3), their (y, x) (n, 2))."""
    rgb, label = ds.raw(index)
    out = []
    for o in ds.scene(index).objects:
        e = o.half_extent + 1
        ys = slice(max(int(o.cy - e), 0), int(o.cy + e) + 1)
        xs = slice(max(int(o.cx - e), 0), int(o.cx + e) + 1)
        mask = label[ys, xs] == o.label  # objects keep a margin, so no other object's pixels are in the box
        out.append((o, rgb[ys, xs][mask], np.argwhere(mask) + (ys.start, xs.start)))
    return out


def test_item_shapes_dtypes_and_label_range(train):
    item = train[0]
    assert item["image"].shape == (3, 192, 384) and item["image"].dtype == torch.float32
    assert item["label"].shape == (192, 384) and item["label"].dtype == torch.int64
    assert item["index"] == 0
    assert len(train.classes) == train.num_classes == len(train.palette) == 8
    for i in range(N_IMAGES):
        _, label = train.raw(i)
        assert label.min() >= 0 and label.max() < 8
        assert {0, 1} <= set(np.unique(label).tolist())  # background and cue always present
    assert colorize(item["label"], train.palette).shape == (192, 384, 3)


def test_other_sizes_and_batching():
    big = SyntheticSegmentation("val", length=2, image_hw=(384, 768))
    item = big[1]
    assert item["image"].shape == (3, 384, 768) and item["label"].shape == (384, 768)
    odd = SyntheticSegmentation("train", length=4, image_hw=(96, 160))
    batch = next(iter(torch.utils.data.DataLoader(odd, batch_size=4)))
    assert batch["image"].shape == (4, 3, 96, 160) and batch["label"].shape == (4, 96, 160)
    assert batch["index"].tolist() == [0, 1, 2, 3]


def test_deterministic_per_seed_split_index(train):
    fresh = SyntheticSegmentation("train", length=N_IMAGES, seed=3)  # no cache, another instance
    for i in (0, 7, N_IMAGES - 1):
        for a, b in zip(fresh.raw(i), train.raw(i)):
            np.testing.assert_array_equal(a, b)
    assert torch.equal(fresh[5]["image"], fresh[5]["image"])
    assert not np.array_equal(train.raw(0)[0], train.raw(1)[0])
    other_seed = SyntheticSegmentation("train", length=N_IMAGES, seed=4)
    assert not np.array_equal(other_seed.raw(0)[0], train.raw(0)[0])
    assert train.raw(-1)[0] is train.raw(N_IMAGES - 1)[0]  # memoised, negative indices wrap
    with pytest.raises(IndexError, match=f"out of range for a dataset of {N_IMAGES}"):
        train.raw(N_IMAGES)


def test_train_and_val_share_no_image(train):
    val = SyntheticSegmentation("val", length=N_IMAGES, seed=3)
    train_images = {train.raw(i)[0].tobytes() for i in range(40)}
    val_images = {val.raw(i)[0].tobytes() for i in range(40)}
    assert len(train_images) == len(val_images) == 40
    assert not train_images & val_images


def test_every_image_has_one_cue_whose_hue_is_the_objects_mode(train):
    for i in range(N_IMAGES):
        rgb, label = train.raw(i)
        scene = train.scene(i)
        ys, xs = np.nonzero(label == 1)
        # One disk: its pixels fill its bounding box like a disk (pi / 4) and match the scene's size.
        height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert abs(height - scene.cue_size) <= 2 and abs(width - scene.cue_size) <= 2
        assert ys.size / (height * width) == pytest.approx(math.pi / 4, abs=0.06)
        # Its colour is dominated by the mode's channel (red, green, blue).
        cue_rgb = rgb[ys, xs].astype(float).mean(0)
        assert int(np.argmax(cue_rgb)) == scene.mode, (i, cue_rgb, HUES[scene.mode])
        object_ids = [v for v in np.unique(label).tolist() if v >= 2]
        assert object_ids, f"sample {i} has no object"
        assert {(v - 2) % NUM_MODES for v in object_ids} == {scene.mode}


def test_objects_are_far_from_the_cue(train):
    gap_px = SceneSpec().min_gap * 16
    far = 0
    for i in range(N_IMAGES):
        _, label = train.raw(i)
        ys, xs = np.nonzero(label == 1)
        oy, ox = np.nonzero(label >= 2)
        # Chebyshev distance from each object pixel to the cue's bounding box.
        dy = np.maximum(np.maximum(ys.min() - oy, oy - ys.max()), 0)
        dx = np.maximum(np.maximum(xs.min() - ox, ox - xs.max()), 0)
        far += np.maximum(dy, dx).min() >= gap_px - 2
    # The gap is relaxed only when not one object fits; then a 7x7-token crop could see both.
    assert far >= 0.95 * N_IMAGES


def _max_mode_z(x: np.ndarray, y: np.ndarray) -> float:
    """Largest |z| of a difference of feature means between one mode and the others (Welch), over all
    features (columns of x) and modes: about N(0, 1) per comparison when the features ignore the mode."""
    z = []
    for m in range(NUM_MODES):
        a, b = x[y == m], x[y != m]
        z.append((a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / len(a) + b.var(0) / len(b) + 1e-12))
    return float(np.abs(np.array(z)).max())


def _features(pixels: np.ndarray, yx: np.ndarray) -> np.ndarray:
    """Colour, contrast, tint, area and position of a set of pixels (n, 3) at coordinates yx (n, 2)."""
    p = pixels.astype(float)
    return np.concatenate([p.mean(0), p.std(0), p.mean(0) - p.mean(), [len(p)], yx.mean(0)])


def test_object_appearance_does_not_reveal_the_mode(train):
    """Objects of one shape look the same in every mode (no feature mean differs by more than 4 standard
    errors) though their labels differ, while the same statistic finds the mode at once on the cue.
    Features are averaged per image: objects of one image share its lighting, so they are not independent."""
    for shape in range(len(SHAPES)):
        x, y, labels = [], [], set()
        for i in range(N_IMAGES):
            mode = train.scene(i).mode
            feats = []
            for o, pixels, yx in _object_pixels(train, i):
                assert o.label == 2 + NUM_MODES * o.shape + mode
                if o.shape == shape:
                    feats.append(_features(pixels, yx))
                    labels.add(o.label)
            if feats:
                x.append(np.mean(feats, axis=0))
                y.append(mode)
        y = np.array(y)
        assert len(labels) == NUM_MODES  # same-looking objects, three different labels
        assert min(np.bincount(y, minlength=NUM_MODES)) >= 12
        assert _max_mode_z(np.array(x), y) < 4.0, SHAPES[shape]

    # Control: the statistic has the power to see the mode where it is visible.
    x, y = [], []
    for i in range(N_IMAGES):
        rgb, label = train.raw(i)
        x.append(_features(rgb[label == 1], np.argwhere(label == 1)))
        y.append(train.scene(i).mode)
    assert _max_mode_z(np.array(x), np.array(y)) > 10.0


def test_changing_only_the_mode_changes_only_the_cue_and_the_labels(train):
    """Counterfactual: the same layout and paint randomness rendered in another mode gives the same pixels
    everywhere but on the cue, while every object's label moves to the other mode's class."""
    for i in range(6):
        scene = train.scene(i)
        for mode in range(NUM_MODES):
            if mode == scene.mode:
                continue
            objects = tuple(replace(o, label=2 + NUM_MODES * o.shape + mode) for o in scene.objects)
            other = replace(scene, mode=mode, objects=objects)
            rgb_a, label_a = render_scene(np.random.default_rng(i), scene, train.spec)
            rgb_b, label_b = render_scene(np.random.default_rng(i), other, train.spec)
            cue = label_a == 1
            assert np.array_equal(cue, label_b == 1)
            np.testing.assert_array_equal(rgb_a[~cue], rgb_b[~cue])
            assert not np.array_equal(rgb_a[cue], rgb_b[cue])
            objects_mask = label_a >= 2
            assert objects_mask.any()
            assert (label_b[objects_mask].astype(int) - label_a[objects_mask] == mode - scene.mode).all()


def test_squares_and_disks_differ_in_shape(train):
    fill = {0: [], 1: []}
    for i in range(N_IMAGES):
        for o, pixels, _ in _object_pixels(train, i):
            fill[o.shape].append(len(pixels) / o.size**2)  # area / (side or diameter)^2
    assert np.mean(fill[SHAPES.index("square")]) == pytest.approx(1.0, abs=0.05)
    assert np.mean(fill[SHAPES.index("disk")]) == pytest.approx(math.pi / 4, abs=0.05)


def test_flip_mirrors_image_and_label_together():
    plain = SyntheticSegmentation("train", length=1, image_hw=(64, 128))[0]
    flipping = SyntheticSegmentation("train", length=1, image_hw=(64, 128), flip=True, cache=True)
    assert_random_joint_flip(plain, flipping)


def test_construction_errors_say_what_would_be_right(train):
    with pytest.raises(ValueError, match=r"unknown split 'training'.*\['test', 'train', 'val'\]"):
        SyntheticSegmentation("training")
    with pytest.raises(ValueError, match=r"image_hw=\(32, 384\) is too small.*>= 64"):
        SyntheticSegmentation("train", image_hw=(32, 384))
    with pytest.raises(ValueError, match=r"image_hw=\(64, 4096\) is too elongated.*does not fit in 64 px"):
        SyntheticSegmentation("train", image_hw=(64, 4096))
    with pytest.raises(ValueError, match="object_size must be 0 < lo <= hi"):
        SyntheticSegmentation("train", spec=SceneSpec(object_size=(4.0, 2.0)))
    with pytest.raises(RuntimeError, match="cache=True"):
        SyntheticSegmentation("train", length=2).fill_cache()


def test_build_dataset_synthetic():
    ds = build_dataset("synthetic", "val", length=3, image_hw=(64, 128), seed=5)
    assert isinstance(ds, SyntheticSegmentation) and len(ds) == 3 and ds[0]["image"].shape == (3, 64, 128)
    assert ds.split == "val" and ds.seed == 5
    with pytest.raises(ValueError, match="root=.*does not apply"):
        build_dataset("synthetic", "train", root="/data")
    with pytest.raises(ValueError, match="set length"):
        build_dataset("synthetic", "train", max_items=3)
