"""Flow-aware augmentation (one crop, flips that negate a flow component, one colour jitter for both frames)
and the registry's dataset options, on the miniature trees of test_flow_datasets."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from test_flow_datasets import FLOW_DATASETS, H, W, flow_field, make_chairs, make_sintel, rgb

from winwin.data.build import DATASETS, build_from_config
from winwin.data.config import DataConfig
from winwin.data.flow_augment import FlowArrays, FlowAugment
from winwin.data.flow_folders import FlyingChairs
from winwin.data.flow_folders_benchmarks import KITTIFlow2015, Sintel, Spring
from winwin.data.flow_folders_things import FlyingThings3D
from winwin.errors import InputError


# -- augmentation ---------------------------------------------------------------------------------------------
def coded_sample(hw: tuple[int, int] = (H, W)) -> FlowArrays:
    """Pixel (y, x) holds y and x in its colours and flow, so any crop / flip can be read back."""
    ys, xs = np.mgrid[: hw[0], : hw[1]]  # (H, W) each
    rgb1 = np.stack([ys, xs, np.zeros_like(ys)], -1).astype(np.uint8)  # (H, W, 3)
    rgb2 = np.stack([ys, xs, np.full_like(ys, 9)], -1).astype(np.uint8)
    flow = np.stack([xs + 0.5, ys + 0.25], -1).astype(np.float32)  # (H, W, 2)
    valid = (xs + ys) % 3 > 0
    return FlowArrays(rgb1, rgb2, flow, valid, {"occluded": xs > ys})


def test_crop_cuts_frames_flow_and_masks_at_one_place():
    tops, lefts = set(), set()
    for seed in range(20):
        out = FlowAugment(crop_hw=(3, 5))(coded_sample(), np.random.default_rng(seed))
        top, left = int(out.rgb1[0, 0, 0]), int(out.rgb1[0, 0, 1])
        ys, xs = np.mgrid[top : top + 3, left : left + 5]
        assert out.rgb1.shape == (3, 5, 3) and out.flow.shape == (3, 5, 2) and out.valid.shape == (3, 5)
        assert (out.rgb2[..., 0] == ys).all() and (out.rgb2[..., 1] == xs).all() and (out.rgb2[..., 2] == 9).all()
        assert (out.flow[..., 0] == xs + 0.5).all() and (out.flow[..., 1] == ys + 0.25).all()
        assert (out.valid == ((xs + ys) % 3 > 0)).all() and (out.masks["occluded"] == (xs > ys)).all()
        tops.add(top)
        lefts.add(left)
    assert (min(tops), max(tops), min(lefts), max(lefts)) == (0, H - 3, 0, W - 5)  # every place is reachable
    with pytest.raises(InputError, match="crop 9x5 .* larger than the image 8x12"):
        FlowAugment(crop_hw=(9, 5))(coded_sample(), np.random.default_rng(0))


def test_flips_mirror_everything_and_negate_one_component():
    plain = coded_sample()
    h = FlowAugment(hflip=True, hflip_prob=1.0)(coded_sample(), np.random.default_rng(0))
    assert (h.rgb1 == plain.rgb1[:, ::-1]).all() and (h.rgb2 == plain.rgb2[:, ::-1]).all()
    assert (h.flow[..., 0] == -plain.flow[:, ::-1, 0]).all() and (h.flow[..., 1] == plain.flow[:, ::-1, 1]).all()
    assert (h.valid == plain.valid[:, ::-1]).all() and (h.masks["occluded"] == plain.masks["occluded"][:, ::-1]).all()
    v = FlowAugment(vflip=True, vflip_prob=1.0)(coded_sample(), np.random.default_rng(0))
    assert (v.rgb1 == plain.rgb1[::-1]).all() and (v.valid == plain.valid[::-1]).all()
    assert (v.flow[..., 1] == -plain.flow[::-1, :, 1]).all() and (v.flow[..., 0] == plain.flow[::-1, :, 0]).all()
    assert v.flow.flags.c_contiguous and h.rgb1.flags.c_contiguous
    seen = {bool(FlowAugment(hflip=True)(coded_sample(), np.random.default_rng(s)).flow[0, 0, 0] < 0) for s in range(8)}
    assert seen == {True, False}  # probability 1/2 by default


def test_colour_jitter_is_one_function_for_both_frames():
    frame = rgb(20)
    sample = FlowArrays(frame.copy(), frame.copy(), flow_field(21), np.ones((H, W), bool))
    out = FlowAugment(color_jitter=0.4)(sample, np.random.default_rng(3))
    assert (out.rgb1 == out.rgb2).all() and not (out.rgb1 == frame).all()
    assert (out.flow == sample.flow).all() and out.rgb1.dtype == np.uint8
    with pytest.raises(InputError, match="color_jitter"):
        FlowAugment(color_jitter=1.5)


def test_same_seed_same_augmentation_in_the_dataset(tmp_path):
    make_chairs(tmp_path)
    augment = FlowAugment(crop_hw=(4, 6), hflip=True, vflip=True, color_jitter=0.3)
    dataset = FlyingChairs(tmp_path, "train", augment=augment)
    torch.manual_seed(5)
    first = [dataset[0] for _ in range(4)]
    torch.manual_seed(5)
    again = [dataset[0] for _ in range(4)]
    for a, b in zip(first, again):
        assert all(torch.equal(a[k], b[k]) for k in ("image1", "image2", "flow", "valid"))
    assert first[0]["image1"].shape == (3, 4, 6) and first[0]["flow"].shape == (2, 4, 6)
    assert not all(torch.equal(first[0]["flow"], s["flow"]) for s in first[1:])  # draws differ between calls
    assert FlyingChairs(tmp_path, "train", flip=True).augment == FlowAugment(hflip=True)


# -- registry and config --------------------------------------------------------------------------------------
def test_registry_options_match_the_dataset_signatures():
    classes = {
        "flying_chairs": FlyingChairs,
        "flying_things": FlyingThings3D,
        "sintel": Sintel,
        "spring": Spring,
        "kitti_flow": KITTIFlow2015,
    }
    for name in FLOW_DATASETS:
        entry = DATASETS[name]
        assert entry.task == "flow" and not entry.generated
        params = inspect.signature(classes[name]).parameters
        assert set(entry.options) == set(params) - {"root", "split", "flip", "max_items", "image_hw", "augment"}


def test_build_from_config_passes_augmentation_and_options(tmp_path):
    make_sintel(tmp_path)
    data = DataConfig(
        name="sintel",
        root=str(tmp_path),
        train_split="training",
        options={"pass_name": "final"},
        crop_size=[4, 6],
        flip=True,
        vflip=True,
        color_jitter=0.2,
    )
    train = build_from_config(data, "training", train=True, augment=True)
    assert train.pass_name == "final"
    assert train.augment == FlowAugment(crop_hw=(4, 6), hflip=True, vflip=True, color_jitter=0.2)
    assert train[0]["flow"].shape == (2, 4, 6) and train[0]["occluded"].shape == (4, 6)
    val = build_from_config(data, "test", train=False)
    assert val.augment is None and val[0]["flow"].shape == (2, H, W)
    bad = DataConfig(name="sintel", root=str(tmp_path), options={"pass": "final"})
    with pytest.raises(InputError, match="sintel dataset has no option pass; its options: pass_name, scenes"):
        build_from_config(bad, "training", train=True)
    with pytest.raises(InputError, match="data.crop_size apply to the real flow datasets"):
        build_from_config(DataConfig(name="synthetic_flow", crop_size=[64, 64]), "train", train=True, augment=True)
