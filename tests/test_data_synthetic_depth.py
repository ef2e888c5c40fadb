"""The synthetic depth dataset: determinism, shapes, the camera geometry, and the property it exists for
(metric depth is fixed by far-away context, not by what an object or the wall looks like locally)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import assert_random_joint_flip
from winwin.data.build import build_dataset
from winwin.data.synthetic_depth import SyntheticDepth
from winwin.data.synthetic_depth_scene import DepthScene, DepthSceneSpec

N_IMAGES = 48  # about 190 objects, a fraction of a second to generate


@pytest.fixture(scope="module")
def train() -> SyntheticDepth:
    ds = SyntheticDepth("train", length=N_IMAGES, seed=3, cache=True)
    ds.fill_cache()
    return ds


def _reference_depth(scene: DepthScene) -> np.ndarray:
    """(H, W) float64 depth recomputed pixel by pixel from the layout, apart from the renderer's painting
    order: the nearest of the wall, the ground under the pixel centre (Z = f h / (y - y_h)) and every
    object box holding the pixel centre."""
    h, w = scene.image_hw
    y = np.arange(h, dtype=np.float64)[:, None] + 0.5  # (H, 1) pixel centres
    x = np.arange(w, dtype=np.float64)[None, :] + 0.5  # (1, W)
    above = y - scene.horizon
    ground = np.where(above > 0, scene.focal * scene.camera_height / np.where(above > 0, above, 1.0), np.inf)
    depth = np.broadcast_to(np.minimum(ground, scene.wall_depth), (h, w)).copy()
    for o in scene.objects:
        inside = (y >= o.top) & (y < o.bottom) & (x >= o.left) & (x < o.right)  # (H, W)
        depth[inside] = np.minimum(depth[inside], o.depth)
    return depth


def test_item_shapes_dtypes_and_depth_range(train):
    item = train[0]
    assert item["image"].shape == (3, 192, 384) and item["image"].dtype == torch.float32
    assert item["depth"].shape == (192, 384) and item["depth"].dtype == torch.float32
    assert item["index"] == 0
    assert (train.min_depth, train.max_depth) == (0.5, 50.0)
    lo, hi = np.inf, 0.0
    for i in range(N_IMAGES):
        rgb, depth = train.raw(i)
        assert rgb.shape == (192, 384, 3) and rgb.dtype == np.uint8 and depth.dtype == np.float32
        assert np.isfinite(depth).all()
        assert train.min_depth <= depth.min() and depth.max() <= train.max_depth
        lo, hi = min(lo, depth.min()), max(hi, depth.max())
    assert lo < 3.0 and hi > 25.0  # the data spans the advertised range, from a few metres to tens


def test_other_sizes_and_batching():
    big = SyntheticDepth("val", length=2, image_hw=(384, 768))
    item = big[1]
    assert item["image"].shape == (3, 384, 768) and item["depth"].shape == (384, 768)
    for hw in [(64, 64), (96, 160), (64, 700)]:
        ds = SyntheticDepth("test", length=8, image_hw=hw)
        for i in range(8):
            depth = ds.raw(i)[1]
            assert ds.min_depth <= depth.min() and depth.max() <= ds.max_depth, (hw, i)
            np.testing.assert_allclose(depth, _reference_depth(ds.scene(i)), rtol=1e-6)
    batch = next(iter(torch.utils.data.DataLoader(SyntheticDepth("train", length=4, image_hw=(96, 160)), 4)))
    assert batch["image"].shape == (4, 3, 96, 160) and batch["depth"].shape == (4, 96, 160)
    assert batch["index"].tolist() == [0, 1, 2, 3]


def test_deterministic_per_seed_split_index(train):
    fresh = SyntheticDepth("train", length=N_IMAGES, seed=3)  # no cache, another instance
    for i in (0, 7, N_IMAGES - 1):
        for a, b in zip(fresh.raw(i), train.raw(i)):
            np.testing.assert_array_equal(a, b)
        assert fresh.scene(i) == train.scene(i)
    assert not np.array_equal(train.raw(0)[0], train.raw(1)[0])
    other_seed = SyntheticDepth("train", length=N_IMAGES, seed=4)
    assert not np.array_equal(other_seed.raw(0)[1], train.raw(0)[1])
    with pytest.raises(IndexError, match=f"out of range for a dataset of {N_IMAGES}"):
        train.raw(N_IMAGES)


def test_splits_share_no_scene(train):
    val = SyntheticDepth("val", length=N_IMAGES, seed=3)
    test = SyntheticDepth("test", length=N_IMAGES, seed=3)
    images = [{ds.raw(i)[0].tobytes() for i in range(20)} for ds in (train, val, test)]
    assert all(len(s) == 20 for s in images)
    assert not (images[0] & images[1] or images[0] & images[2] or images[1] & images[2])
    assert not np.array_equal(train.raw(0)[1], val.raw(0)[1])


def test_cache_returns_the_same_arrays(train):
    rgb, depth = train.raw(5)
    assert train.raw(5)[0] is rgb and train.raw(-N_IMAGES + 5)[1] is depth  # memoised, negative indices wrap
    assert not rgb.flags.writeable and not depth.flags.writeable  # shared: nobody may edit them
    plain = SyntheticDepth("train", length=N_IMAGES, seed=3).raw(5)
    np.testing.assert_array_equal(plain[0], rgb)
    np.testing.assert_array_equal(plain[1], depth)
    item = train[5]
    item["depth"] += 1.0  # the item owns its tensors
    np.testing.assert_array_equal(train.raw(5)[1], plain[1])


def test_depth_follows_the_camera_geometry(train):
    """Every pixel: ground f h / (y + 0.5 - y_h) where no object covers it and below the wall base, the
    wall's distance above it, nearest covering object otherwise; the horizon row itself is hidden."""
    for i in range(N_IMAGES):
        scene, depth = train.scene(i), train.raw(i)[1]
        h, w = scene.image_hw
        assert scene.focal == pytest.approx(0.5 * w) and 0.15 * h <= scene.horizon <= 0.45 * h
        np.testing.assert_allclose(depth, _reference_depth(scene), rtol=1e-6)
        row = int(scene.horizon)  # the horizon row: the wall or an object, never the ground
        assert (depth[row] <= scene.wall_depth * (1 + 1e-6)).all() and scene.wall_base > row + 1
        # One hand-computed ground pixel: the bottom row, where no object reaches (bases keep a margin).
        col = w // 2
        assert depth[h - 1, col] == pytest.approx(scene.focal * 1.6 / (h - 0.5 - scene.horizon), rel=1e-6)


def test_object_pixels_have_the_ground_depth_at_their_base(train):
    seen = 0
    for i in range(N_IMAGES):
        scene, depth = train.scene(i), train.raw(i)[1]
        f_h = scene.focal * scene.camera_height
        for o in scene.objects:
            assert o.depth * (o.bottom - scene.horizon) == pytest.approx(f_h, rel=1e-9)
            assert o.depth < scene.wall_depth and o.bottom < scene.image_hw[0]
            # The ground row just under the base, in the object's columns, where nothing else stands there.
            base_row = int(np.ceil(o.bottom - 0.5))
            cols = np.arange(max(int(np.ceil(o.left - 0.5)), 0), min(int(np.ceil(o.right - 0.5)), scene.image_hw[1]))
            above, below = depth[base_row - 1, cols], depth[base_row, cols]
            free = np.isclose(above, o.depth, rtol=1e-6)  # the object's own pixels, not an occluder's
            free &= np.isclose(below, f_h / (base_row + 0.5 - scene.horizon), rtol=1e-6)  # bare ground
            if free.any():
                seen += 1
                # The step from the object to the ground is at most one row of ground perspective.
                assert (below[free] <= above[free]).all()
                assert (below[free] >= f_h / (o.bottom + 1 - scene.horizon) * (1 - 1e-6)).all()
    assert seen >= N_IMAGES  # most objects show their base


def test_nearer_objects_occlude_farther_ones(train):
    """Where two object boxes overlap (and no third), the pixels take the nearer object's depth, whatever
    the order the objects were drawn in; nowhere is an overlap farther than its nearer object."""
    overlaps = 0
    for i in range(N_IMAGES):
        scene, depth = train.scene(i), train.raw(i)[1]
        y = np.arange(scene.image_hw[0])[:, None] + 0.5
        x = np.arange(scene.image_hw[1])[None, :] + 0.5
        boxes = np.stack([(y >= o.top) & (y < o.bottom) & (x >= o.left) & (x < o.right) for o in scene.objects])
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                both = boxes[a] & boxes[b]
                nearer = min(scene.objects[a].depth, scene.objects[b].depth)
                assert (depth[both] <= nearer * (1 + 1e-6)).all()
                only = both & (boxes.sum(0) == 2)
                if only.any():
                    overlaps += 1
                    np.testing.assert_allclose(depth[only], nearer, rtol=1e-6)
    assert overlaps >= 10


def test_apparent_size_does_not_tell_depth(train):
    """Over all objects, log apparent width and height are uncorrelated with log depth, while real-world
    sizes, the control, are strongly correlated with it: an object's looks do not give its depth."""
    objects = [o for i in range(N_IMAGES) for o in train.scene(i).objects]
    assert len(objects) > 120
    log_z = np.log([o.depth for o in objects])

    def corr(v: list[float]) -> float:
        return float(np.corrcoef(np.log(v), log_z)[0, 1])

    assert abs(corr([o.bottom - o.top for o in objects])) < 0.2
    assert abs(corr([o.right - o.left for o in objects])) < 0.2
    assert corr([o.height_m for o in objects]) > 0.5 and corr([o.width_m for o in objects]) > 0.5


def test_brightness_does_not_depend_on_depth(train):
    """Bare ground nearer than the image's median ground depth is on average as bright as farther ground
    (no fog); the same statistic sees a fog (up to +50 levels at 40 m) added to the same images."""
    diffs, fogged = [], []
    for i in range(N_IMAGES):
        scene, (rgb, depth) = train.scene(i), train.raw(i)
        ground = np.isclose(depth, _reference_depth(scene), rtol=1e-6) & (depth < scene.wall_depth * 0.999)
        lum = rgb.astype(np.float64).mean(-1)  # (H, W)
        for out, img in ((diffs, lum), (fogged, lum + 60.0 * (1 - np.exp(-depth / 20.0)))):
            z = depth[ground]
            near = z < np.median(z)
            out.append(img[ground][near].mean() - img[ground][~near].mean())

    def t(d: list[float]) -> float:  # |mean| in standard errors
        return abs(np.mean(d)) / (np.std(d) / np.sqrt(len(d)))

    assert t(diffs) < 4.0
    assert t(fogged) > 6.0


def test_flip_mirrors_image_and_depth_together():
    plain = SyntheticDepth("train", length=1, image_hw=(64, 128))[0]
    flipping = SyntheticDepth("train", length=1, image_hw=(64, 128), flip=True, cache=True)
    assert_random_joint_flip(plain, flipping, key="depth")


def test_construction_errors_say_what_would_be_right():
    with pytest.raises(ValueError, match=r"unknown split 'training'.*\['test', 'train', 'val'\]"):
        SyntheticDepth("training")
    with pytest.raises(ValueError, match="length must be a positive number of samples, got 0"):
        SyntheticDepth("train", length=0)
    with pytest.raises(ValueError, match=r"image_hw=\(32, 384\) is too small.*>= 64"):
        SyntheticDepth("train", image_hw=(32, 384))
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        SyntheticDepth("train", seed=-1)
    with pytest.raises(ValueError, match=r"image_hw=\(64, 4096\) is too elongated.*ratio between 0.5\d and 12.50"):
        SyntheticDepth("train", image_hw=(64, 4096))
    with pytest.raises(ValueError, match=r"image_hw=\(512, 64\) is too elongated"):
        SyntheticDepth("train", image_hw=(512, 64))
    with pytest.raises(ValueError, match=r"object_width must be 0 < lo <= hi, got \(6.0, 0.5\)"):
        SyntheticDepth("train", spec=DepthSceneSpec(object_width=(6.0, 0.5)))
    with pytest.raises(ValueError, match="horizon\\[1\\] \\+ min_ground must be < 1"):
        SyntheticDepth("train", spec=DepthSceneSpec(horizon=(0.2, 0.6), min_ground=0.5))
    with pytest.raises(ValueError, match="must lie within depth_range"):
        SyntheticDepth("train", spec=DepthSceneSpec(wall_depth=(8.0, 80.0)))
    with pytest.raises(RuntimeError, match="cache=True"):
        SyntheticDepth("train", length=2).fill_cache()


def test_build_dataset_synthetic_depth():
    ds = build_dataset("synthetic_depth", "val", length=3, image_hw=(64, 128), seed=5)
    assert isinstance(ds, SyntheticDepth) and len(ds) == 3 and ds[0]["depth"].shape == (64, 128)
    assert ds.split == "val" and ds.seed == 5
