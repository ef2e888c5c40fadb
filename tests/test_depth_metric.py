import math

import pytest
import torch

from winwin.tasks.depth.metric import DepthMetric, eigen_crop_bounds


def _score(pred, target, valid=None, **kw) -> dict:
    m = DepthMetric(**kw)
    m.update(torch.as_tensor(pred, dtype=torch.float32), torch.as_tensor(target, dtype=torch.float32), valid)
    return m.compute()


# One 1x4 image, target t = [1, 2, 4, 8]. Per pixel, p vs t:
#  p = [1, 3, 4, 4]: |p-t|/t = 0, 1/2, 0, 1/2 -> abs_rel 1/4; (p-t)^2/t = 0, 1/2, 0, 2 -> sq_rel 2.5/4 = 0.625;
#    (p-t)^2 = 0, 1, 0, 16 -> rmse sqrt(17/4) = 2.0615528; log ratios 0, ln 1.5, 0, ln 0.5, squares
#    0, 0.1644020, 0, 0.4804530 -> rmse_log sqrt(0.6448550/4) = 0.4015143;
#    max(p/t, t/p) = 1, 1.5, 1, 2 vs 1.25 / 1.5625 / 1.953125 -> d1 2/4, d2 3/4, d3 3/4.
#  p = [1, 3, 4, 5] (separates d2 from d3): |p-t|/t = 0, 1/2, 0, 3/8 -> abs_rel 0.875/4 = 0.21875;
#    (p-t)^2/t = 0, 1/2, 0, 9/8 -> sq_rel 1.625/4 = 0.40625; (p-t)^2 = 0, 1, 0, 9 -> rmse sqrt(10/4) = 1.5811388;
#    log-ratio squares 0, 0.1644020, 0, ln(1.6)^2 = 0.2209034 -> rmse_log sqrt(0.3853054/4) = 0.3103649;
#    max ratio 1, 1.5, 1, 1.6 -> d1 2/4, d2 3/4 (1.6 > 1.5625), d3 4/4.
@pytest.mark.parametrize(
    "pred, expected",
    [
        ([1, 3, 4, 4], dict(abs_rel=0.25, sq_rel=0.625, rmse=2.0615528, rmse_log=0.4015143, d1=0.5, d2=0.75, d3=0.75)),
        (
            [1, 3, 4, 5],
            dict(abs_rel=0.21875, sq_rel=0.40625, rmse=1.5811388, rmse_log=0.3103649, d1=0.5, d2=0.75, d3=1.0),
        ),
    ],
)
def test_hand_computed(pred, expected):
    r = _score([[pred]], [[[1.0, 2.0, 4.0, 8.0]]])  # (B, H, W) = (1, 1, 4)
    for name, value in expected.items():
        assert r[name] == pytest.approx(value, abs=1e-6), name
    assert (r["images"], r["skipped"]) == (1, 0)


def test_channel_dim_is_accepted():
    r = _score([[[[1, 3, 4, 4]]]], [[[[1.0, 2.0, 4.0, 8.0]]]])  # (1, 1, 1, 4)
    assert r["abs_rel"] == pytest.approx(0.25)


def test_identical_prediction_is_perfect():
    target = torch.rand(2, 5, 7) * 9 + 0.5
    r = _score(target, target)
    assert r["abs_rel"] == 0 and r["sq_rel"] == 0 and r["rmse"] == 0 and r["rmse_log"] == 0
    assert r["d1"] == 1 and r["d2"] == 1 and r["d3"] == 1
    assert r["images"] == 2


def test_mean_over_images_not_over_pixels():
    # image 0: one valid pixel, t 1, p 2 -> abs_rel 1; image 1: four valid pixels, perfect -> abs_rel 0.
    # Per image: (1 + 0) / 2 = 0.5; pooled over the 5 pixels it would be 1 / 5 = 0.2.
    target = torch.ones(2, 1, 4)
    pred = torch.tensor([[[2.0, 2.0, 2.0, 2.0]], [[1.0, 1.0, 1.0, 1.0]]])
    valid = torch.tensor([[[True, False, False, False]], [[True, True, True, True]]])
    r = _score(pred, target, valid)
    assert r["abs_rel"] == pytest.approx(0.5)
    assert r["d1"] == pytest.approx(0.5)  # image 0: 0, image 1: 1


def test_batches_accumulate_like_one_batch():
    target = torch.rand(4, 6, 5) * 8 + 0.5
    pred = target * (torch.rand(4, 6, 5) + 0.5)
    whole, parts = DepthMetric(), DepthMetric()
    whole.update(pred, target)
    for i in range(4):
        parts.update(pred[i : i + 1], target[i : i + 1])
    a, b = whole.compute(), parts.compute()
    assert a == pytest.approx(b)
    assert a["images"] == 4


def test_excluded_pixels_do_not_count():
    # Pixels 0..3 are scored (hand-computed example above, abs_rel 0.25); every other pixel is excluded
    # (masked, target NaN / inf / <= min_depth / >= max_depth) and carries a huge error.
    target = torch.tensor([[[1.0, 2.0, 4.0, 8.0, 5.0, math.nan, math.inf, 1e-3, 0.0, -3.0, 10.0, 50.0]]])
    pred = torch.tensor([[[1.0, 3.0, 4.0, 4.0, 1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e-5, 1e-5]]])
    valid = torch.ones_like(target, dtype=torch.bool)
    valid[..., 4] = False
    r = _score(pred, target, valid, min_depth=1e-3, max_depth=10.0)
    assert r["abs_rel"] == pytest.approx(0.25)
    assert r["rmse"] == pytest.approx(math.sqrt(17 / 4))
    assert r["d1"] == pytest.approx(0.5)


def test_predictions_are_clipped_to_the_range():
    # p 20 clipped to max_depth 10: |10 - 8| / 8 = 0.25 (unclipped it would be 12 / 8 = 1.5).
    r = _score([[[20.0]]], [[[8.0]]], max_depth=10.0)
    assert r["abs_rel"] == pytest.approx(0.25)
    r = _score([[[1e-6]]], [[[0.5]]], min_depth=0.1)  # clipped to 0.1 -> |0.1 - 0.5| / 0.5 = 0.8
    assert r["abs_rel"] == pytest.approx(0.8)


def test_eigen_crop_bounds():
    assert eigen_crop_bounds(480, 640) == (45, 471, 41, 601)
    assert eigen_crop_bounds(240, 320) == (23, 236, 21, 301)  # 22.5, 235.5, 20.5, 300.5 rounded half up
    assert eigen_crop_bounds(960, 1280) == (90, 942, 82, 1202)


@pytest.mark.parametrize(
    "y, x, inside",
    [(45, 41, True), (470, 600, True), (44, 300, False), (471, 300, False), (200, 40, False), (200, 601, False)],
)
def test_eigen_crop_excludes_the_border(y, x, inside):
    target = torch.full((1, 480, 640), 2.0)
    pred = target.clone()
    pred[0, y, x] = 8.0  # one wrong pixel: abs_rel 3 / n if scored
    with_crop = _score(pred, target, eigen_crop=True)
    assert (with_crop["abs_rel"] > 0) == inside
    assert with_crop["d1"] == pytest.approx(1 - 1 / (426 * 560) if inside else 1.0)
    assert _score(pred, target)["abs_rel"] > 0  # without the crop the pixel always counts


def test_median_scaling_makes_a_scaled_prediction_perfect():
    target = torch.rand(3, 6, 8) * 4 + 0.5  # 0.5 .. 4.5 m
    scale = torch.tensor([100.0, 0.01, 3.7])[:, None, None]  # 100x goes past max_depth: scale before clipping
    pred = target * scale
    r = _score(pred, target, median_scaling=True)
    assert r["abs_rel"] == pytest.approx(0, abs=1e-6)
    assert r["rmse_log"] == pytest.approx(0, abs=1e-6)
    assert r["d1"] == 1
    assert _score(pred, target)["abs_rel"] > 0.5  # not perfect without it


def test_median_is_numpy_median_for_even_counts():
    # t = [1, 2, 3, 4] (median 2.5), p = [1, 1, 1, 1]: ratio 2.5 -> p = 2.5 everywhere.
    # abs_rel = (1.5 / 1 + 0.5 / 2 + 0.5 / 3 + 1.5 / 4) / 4 = (1.5 + 0.25 + 0.1666667 + 0.375) / 4 = 0.5729167
    r = _score([[[1.0, 1.0, 1.0, 1.0]]], [[[1.0, 2.0, 3.0, 4.0]]], median_scaling=True)
    assert r["abs_rel"] == pytest.approx(0.5729167, abs=1e-6)


def test_images_without_valid_pixels_are_skipped():
    target = torch.tensor([[[1.0, 2.0, 4.0, 8.0]], [[0.0, 0.0, 0.0, 0.0]]])  # image 1: no valid pixel
    pred = torch.tensor([[[1.0, 3.0, 4.0, 4.0]], [[9.0, 9.0, 9.0, 9.0]]])
    m = DepthMetric(median_scaling=True)  # median scaling must skip the empty image too
    m.update(pred, target)
    r = m.compute()
    assert (r["images"], r["skipped"]) == (1, 1)
    # median(t) 3 / median(p) 3.5 -> p = [6/7, 18/7, 24/7, 24/7]; |p - t| / t = 1/7, 2/7, 1/7, 4/7 -> 8/7 / 4
    assert r["abs_rel"] == pytest.approx(2 / 7)


def test_empty_compute_and_reset():
    m = DepthMetric()
    r = m.compute()
    assert all(math.isnan(r[k]) for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "d1", "d2", "d3"))
    assert (r["images"], r["skipped"]) == (0, 0)
    m.update(torch.full((1, 2, 2), 2.0), torch.ones(1, 2, 2))
    assert m.compute()["abs_rel"] == pytest.approx(1.0)
    m.reset()
    assert m.compute()["images"] == 0 and math.isnan(m.compute()["abs_rel"])


def test_class_attributes():
    assert DepthMetric.primary == "abs_rel" and DepthMetric.higher_is_better is False


def test_errors():
    m = DepthMetric()
    with pytest.raises(ValueError, match="shapes differ"):
        m.update(torch.ones(1, 2, 3), torch.ones(1, 3, 2))
    with pytest.raises(ValueError, match=r"\(B, H, W\) or \(B, 1, H, W\); got \(2, 3\)"):
        m.update(torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="exponentiated"):
        m.update(torch.tensor([[[0.5, -0.2]]]), torch.ones(1, 1, 2))
    with pytest.raises(ValueError, match="NaN"):
        m.update(torch.tensor([[[0.5, math.nan]]]), torch.ones(1, 1, 2))
    with pytest.raises(ValueError, match="bool"):
        m.update(torch.ones(1, 1, 2), torch.ones(1, 1, 2), torch.ones(1, 1, 2))
    with pytest.raises(ValueError, match="min_depth"):
        DepthMetric(min_depth=0.0)
    with pytest.raises(ValueError, match="max_depth 1"):
        DepthMetric(min_depth=2.0, max_depth=1.0)
    assert m.compute()["images"] == 0  # failed updates leave the state untouched


@pytest.mark.parametrize("median_scaling", [False, True])
def test_merge_of_two_shards_equals_one_metric_over_all_images(median_scaling):
    g = torch.Generator().manual_seed(2)
    target = torch.rand(5, 6, 7, generator=g, dtype=torch.float64) * 9 + 0.5
    pred = target * (torch.rand(5, 6, 7, generator=g, dtype=torch.float64) + 0.5)
    valid = torch.rand(5, 6, 7, generator=g) < 0.7
    valid[3] = False  # an image without a valid pixel: skipped, in shard B
    whole, a, b = (DepthMetric(median_scaling=median_scaling) for _ in range(3))
    whole.update(pred, target, valid)
    a.update(pred[:2], target[:2], valid[:2])
    b.update(pred[2:], target[2:], valid[2:])
    before = b.compute()
    a.merge(b)
    merged, expected = a.compute(), whole.compute()
    assert (merged["images"], merged["skipped"]) == (expected["images"], expected["skipped"]) == (4, 1)
    for name in ("abs_rel", "sq_rel", "rmse", "rmse_log", "d1", "d2", "d3"):
        assert math.isclose(merged[name], expected[name], rel_tol=1e-12), name
    assert b.compute() == before


def test_merge_of_empty_metrics_stays_nan():
    a = DepthMetric()
    a.merge(DepthMetric())
    r = a.compute()
    assert math.isnan(r["abs_rel"]) and (r["images"], r["skipped"]) == (0, 0)


def test_merge_refuses_incompatible_metrics():
    with pytest.raises(ValueError, match="max_depth: 10.0 and 80.0"):
        DepthMetric().merge(DepthMetric(max_depth=80.0))
    with pytest.raises(ValueError, match="eigen_crop: False and True"):
        DepthMetric().merge(DepthMetric(eigen_crop=True))
    with pytest.raises(ValueError, match="cannot merge a str into a DepthMetric"):
        DepthMetric().merge("abs_rel")
