import math

import pytest
import torch

from helpers import assert_same_metrics
from winwin.tasks.flow.metric import NAMES, FlowMetric

nan = math.nan


def _flow(rows) -> torch.Tensor:
    """[[(u, v), ...], ...] rows of an H x W image -> (1, 2, H, W) float32."""
    return torch.tensor(rows, dtype=torch.float32).permute(2, 0, 1)[None]


def _score(pred, target, valid=None, **kw) -> dict:
    m = FlowMetric(**kw)
    m.update(pred, target, valid)
    return m.compute()


def _assert_values(result: dict, expected: dict) -> None:
    for name, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(result[name]), name
        else:
            assert result[name] == pytest.approx(value, abs=1e-9), name


# One 2 x 2 image. Per pixel: pred, gt -> EPE, gt speed |gt|:
#  (0, 0): pred (0, 0),   gt (3, 4)   -> EPE 5 (3-4-5), speed 5
#  (0, 1): pred (0, 0),   gt (0, 1)   -> EPE 1, speed 1
#  (1, 0): pred (10, 0),  gt (20, 0)  -> EPE 10, speed 20
#  (1, 1): pred (100, 0), gt (96, 0)  -> EPE 4, speed 96
PRED = _flow([[(0, 0), (0, 0)], [(10, 0), (100, 0)]])
GT = _flow([[(3, 4), (0, 1)], [(20, 0), (96, 0)]])
# epe = (5 + 1 + 10 + 4) / 4 = 5.
# 1px: EPE > 1 strictly -> 5, 10, 4 (not the EPE of exactly 1) -> 75 %; 3px: 5, 10, 4 -> 75 %;
# 5px: > 5 strictly -> only 10 (not the EPE of exactly 5) -> 25 %.
# fl_all: EPE > 3 and EPE > 0.05 |gt|: (0,0) 5 > 3, 5 > 0.25 yes; (0,1) 1 > 0.05 but 1 <= 3 no;
#   (1,0) 10 > 3, 10 > 1 yes; (1,1) 4 > 3 but 4 <= 0.05 * 96 = 4.8 no -> 2 / 4 = 50 %.
# speed bins: [0, 10): speeds 5, 1 -> (5 + 1) / 2 = 3; [10, 40): speed 20 -> 10; [40, inf): speed 96 -> 4.
HAND = {"epe": 5.0, "1px": 75.0, "3px": 75.0, "5px": 25.0, "fl_all": 50.0, "s0-10": 3.0, "s10-40": 10.0, "s40+": 4.0}


def test_hand_computed_every_key():
    r = _score(PRED, GT)
    assert set(r) == {*NAMES, "count"}
    _assert_values(r, HAND)
    assert r["count"] == 4
    assert all(isinstance(v, float) for k, v in r.items() if k != "count")
    assert FlowMetric.primary == "epe" and FlowMetric.higher_is_better is False


def test_per_image_equals_dataset_for_one_image():
    _assert_values(_score(PRED, GT, per_image=True), HAND)


def test_empty_speed_bin_is_nan():
    # Keep only the two slow pixels (speeds 5 and 1): epe (5 + 1) / 2 = 3, 1px / 3px 50 %, 5px 0 %,
    # fl_all 50 % (the EPE 5 pixel); s0-10 = 3, the other bins are empty -> NaN.
    valid = torch.tensor([[[True, True], [False, False]]])
    r = _score(PRED, GT, valid)
    _assert_values(r, {"epe": 3.0, "1px": 50.0, "3px": 50.0, "5px": 0.0, "fl_all": 50.0})
    _assert_values(r, {"s0-10": 3.0, "s10-40": nan, "s40+": nan})
    assert r["count"] == 2


def test_invalid_pixels_ignored():
    # The same 2 x 2 image with a third column of huge errors marked invalid: the numbers do not move.
    pred = torch.cat([PRED, torch.zeros(1, 2, 2, 1)], 3)  # (1, 2, 2, 3)
    gt = torch.cat([GT, torch.full((1, 2, 2, 1), 1000.0)], 3)  # (1, 2, 2, 3)
    valid = torch.ones(1, 2, 3, dtype=torch.bool)
    valid[..., 2] = False
    r = _score(pred, gt, valid)
    _assert_values(r, HAND)
    assert r["count"] == 4


@pytest.mark.parametrize("with_valid", [False, True])
def test_non_finite_ground_truth_is_never_valid(with_valid):
    pred = torch.cat([PRED, torch.zeros(1, 2, 2, 1)], 3)  # (1, 2, 2, 3)
    gt = torch.cat([GT, torch.tensor([nan, math.inf]).reshape(1, 1, 2, 1).expand(1, 2, 2, 1)], 3)
    gt[0, 1, 0, 2] = 0.0  # a pixel with only u non-finite is invalid too
    valid = torch.ones(1, 2, 3, dtype=torch.bool) if with_valid else None  # marked valid: still not scored
    r = _score(pred, gt, valid)
    _assert_values(r, HAND)
    assert r["count"] == 4


# Two images with unequal valid counts (each row is one image; the NaN image has no valid pixel):
#  image A: 1 valid pixel, EPE 5 (pred (0, 0) vs gt (3, 4)), speed 5.
#  image B: 3 valid pixels, each EPE 1: gt (1, 0), (2, 0), (20, 0) with pred = gt - (1, 0) -> speeds 1, 2, 20.
#  image C: no valid pixel (ground truth all NaN).
# Dataset: epe (5 + 1 + 1 + 1) / 4 = 2; 1px / 3px 1/4 = 25 % (EPE 1 is not > 1); 5px 0 %; fl_all 25 %;
#   s0-10 (5 + 1 + 1) / 3 = 7/3; s10-40 = 1; s40+ NaN.
# Per image (C skipped): epe (5 + 1) / 2 = 3; 1px / 3px / fl_all (100 + 0) / 2 = 50 %; 5px 0 %;
#   s0-10 (5 + 1) / 2 = 3; s10-40 only B is non-empty -> 1; s40+ NaN.
def _two_images() -> tuple[torch.Tensor, torch.Tensor]:
    pred = torch.cat([_flow([[(0, 0), (0, 0), (0, 0)]]), _flow([[(0, 0), (1, 0), (19, 0)]]), torch.zeros(1, 2, 1, 3)])
    gt = torch.cat(
        [_flow([[(3, 4), (nan, nan), (nan, nan)]]), _flow([[(1, 0), (2, 0), (20, 0)]]), torch.full((1, 2, 1, 3), nan)]
    )
    return pred, gt  # (3, 2, 1, 3) each


def test_dataset_vs_per_image_averaging():
    pred, gt = _two_images()
    dataset = _score(pred, gt)
    per_image = _score(pred, gt, per_image=True)
    _assert_values(dataset, {"epe": 2.0, "1px": 25.0, "3px": 25.0, "5px": 0.0, "fl_all": 25.0})
    _assert_values(dataset, {"s0-10": 7 / 3, "s10-40": 1.0, "s40+": nan})
    _assert_values(per_image, {"epe": 3.0, "1px": 50.0, "3px": 50.0, "5px": 0.0, "fl_all": 50.0})
    _assert_values(per_image, {"s0-10": 3.0, "s10-40": 1.0, "s40+": nan})
    assert dataset["count"] == per_image["count"] == 4


def test_accumulates_over_updates_and_resets():
    pred, gt = _two_images()
    m = FlowMetric(per_image=True)
    for i in range(3):  # one image per update: the same numbers as one batch
        m.update(pred[i : i + 1], gt[i : i + 1])
    _assert_values(m.compute(), {"epe": 3.0, "s0-10": 3.0})
    m.reset()
    r = m.compute()
    assert r["count"] == 0 and math.isnan(r["epe"])


# Spring, gt at 2x: three prediction pixels A (10, 0), B (1, 0), C (0, 0) and their 2 x 2 ground-truth blocks:
#  A: (12, 0) error 2, speed 12 | (0, 45) error sqrt(100 + 2025) = 46.1, speed 45
#     (0, 0) error 10, speed 0  | (10, 0) error 0 but invalid
#     -> EPE = min over the three valid = 2, speed 12 (the best match's, not the largest 45)
#  B: (4, 0) error 3, speed 4; the other three are (1, 0) (error 0) but invalid -> EPE 3, speed 4
#  C: all four invalid -> not counted.
# -> epe (2 + 3) / 2 = 2.5; 1px 100 %; 3px 0 % (3 is not > 3); 5px 0 %; fl_all 0 %;
#    s0-10 = 3 (B), s10-40 = 2 (A), s40+ NaN; count 2.
def test_spring_2x_ground_truth_takes_the_minimum_over_valid_block_pixels():
    pred = _flow([[(10, 0), (1, 0), (0, 0)]])  # (1, 2, 1, 3)
    gt = _flow(
        [[(12, 0), (0, 45), (4, 0), (1, 0), (0, 0), (0, 0)], [(0, 0), (10, 0), (1, 0), (1, 0), (0, 0), (0, 0)]]
    )  # (1, 2, 2, 6)
    valid = torch.tensor([[[True, True, True, False, False, False], [True, False, False, False, False, False]]])
    r = _score(pred, gt, valid, gt_scale=2)
    _assert_values(r, {"epe": 2.5, "1px": 100.0, "3px": 0.0, "5px": 0.0, "fl_all": 0.0})
    _assert_values(r, {"s0-10": 3.0, "s10-40": 2.0, "s40+": nan})
    assert r["count"] == 2
    # With every pixel valid, each block holds an exact match: A (10, 0) speed 10, B (1, 0), C (0, 0).
    r = _score(pred, gt, torch.ones_like(valid), gt_scale=2)
    _assert_values(r, {"epe": 0.0, "1px": 0.0, "s0-10": 0.0, "s10-40": 0.0, "s40+": nan})
    assert r["count"] == 3


def test_speed_bin_edges():
    # gt (10, 0), pred (11, 0): EPE 1 at speed exactly 10 -> [10, 40); gt (0, 40), pred (0, 42): EPE 2 at
    # speed exactly 40 -> [40, inf). So s0-10 is empty (NaN), s10-40 = 1, s40+ = 2.
    r = _score(_flow([[(11, 0), (0, 42)]]), _flow([[(10, 0), (0, 40)]]))
    _assert_values(r, {"s0-10": nan, "s10-40": 1.0, "s40+": 2.0, "epe": 1.5})


def test_gt_scale_1_equals_2x_on_a_repeated_field():
    pred, gt = torch.randn(2, 2, 3, 4) * 5, torch.randn(2, 2, 3, 4) * 20
    gt2 = gt.repeat_interleave(2, 2).repeat_interleave(2, 3)  # (2, 2, 6, 8): every block holds one vector
    one, two = _score(pred, gt), _score(pred, gt2, gt_scale=2)
    for name in NAMES:
        assert two[name] == pytest.approx(one[name], abs=1e-9, nan_ok=True), name


def test_shape_errors():
    m = FlowMetric()
    with pytest.raises(ValueError, match=r"pred must be \(B, 2, H, W\).*got \(1, 3, 2, 2\)"):
        m.update(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"target must be .*\(1, 2, 2, 2\).*got \(1, 2, 2, 3\)"):
        m.update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 3))
    with pytest.raises(ValueError, match=r"\(1, 2, 4, 4\).*gt_scale 2.*got \(1, 2, 2, 2\)"):
        FlowMetric(gt_scale=2).update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2))
    with pytest.raises(
        ValueError, match=r"valid mask must be bool of shape \(1, 2, 2\); got torch.bool \(1, 1, 2, 2\)"
    ):
        m.update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="valid mask must be bool .*got torch.float32"):
        m.update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="gt_scale must be an integer >= 1"):
        FlowMetric(gt_scale=0)
    assert m.compute()["count"] == 0  # nothing was accumulated by the failed updates


def _random_flow(n: int, size: tuple[int, int], seed: int, gt_scale: int = 1):
    """pred (n, 2, H, W), target (n, 2, sH, sW) with speeds in every bin, valid (n, sH, sW) with some holes and
    the last image without a valid pixel."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    s = gt_scale
    pred = torch.randn(n, 2, h, w, generator=g, dtype=torch.float64) * 20
    target = pred.repeat_interleave(s, 2).repeat_interleave(s, 3)
    target = target + torch.randn(target.shape, generator=g, dtype=torch.float64) * 4
    valid = torch.rand(n, h * s, w * s, generator=g) < 0.7
    valid[-1] = False
    return pred, target, valid


@pytest.mark.parametrize("gt_scale", [1, 2])
@pytest.mark.parametrize("per_image", [False, True])
def test_merge_of_two_shards_equals_one_metric_over_all_images(per_image, gt_scale):
    pred, target, valid = _random_flow(5, (6, 7), seed=3, gt_scale=gt_scale)
    whole, a, b = (FlowMetric(per_image, gt_scale) for _ in range(3))
    whole.update(pred, target, valid)
    a.update(pred[:2], target[:2], valid[:2])
    b.update(pred[2:], target[2:], valid[2:])
    before = b.compute()
    a.merge(b)
    assert_same_metrics(a.compute(), whole.compute())
    assert_same_metrics(b.compute(), before)


def test_merge_refuses_incompatible_metrics():
    with pytest.raises(ValueError, match="per_image: False and True"):
        FlowMetric().merge(FlowMetric(per_image=True))
    with pytest.raises(ValueError, match="gt_scale: 1 and 2"):
        FlowMetric().merge(FlowMetric(gt_scale=2))
