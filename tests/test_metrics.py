import math

import pytest
import torch

from winwin.metrics import FlowMetric, SegmentationMetric


def test_miou_hand_computed():
    # 3 classes; target / pred over 8 pixels, one ignored.
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 2]])
    m = SegmentationMetric(3)
    m.update(pred, target)
    r = m.compute()
    # class 0: tp 1, fp 1 (pixel 5), fn 1 (pixel 1) -> 1/3
    # class 1: tp 2, fp 1 (pixel 1), fn 1 (pixel 7) -> 2/4
    # class 2: tp 1, fp 1 (pixel 7), fn 1 (pixel 5) -> 1/3   (pixel 6 ignored)
    assert r["iou"] == pytest.approx([1 / 3, 1 / 2, 1 / 3])
    assert r["miou"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)
    assert r["pixel_acc"] == pytest.approx(4 / 7)
    assert r["pixels"] == 7


def test_accumulates_over_batches_like_one_big_batch():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (6, 9, 7), generator=g)
    pred = torch.randint(0, 4, (6, 9, 7), generator=g)
    whole, parts = SegmentationMetric(4), SegmentationMetric(4)
    whole.update(pred, target)
    for i in range(6):
        parts.update(pred[i], target[i])
    assert torch.equal(whole.confusion, parts.confusion)
    # dataset-level mIoU is not the mean of per-image mIoUs
    assert whole.compute()["miou"] == pytest.approx(parts.compute()["miou"])


def test_absent_class_is_left_out_of_the_mean():
    m = SegmentationMetric(3)
    m.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 1]))
    r = m.compute()
    assert math.isnan(r["iou"][2])
    assert r["miou"] == pytest.approx(1.0)


def test_errors():
    m = SegmentationMetric(3)
    with pytest.raises(ValueError, match="shapes differ"):
        m.update(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="outside"):
        m.update(torch.zeros(4), torch.tensor([0, 1, 5, 255]))


def test_merge_of_two_shards_equals_one_metric_over_all_images():
    g = torch.Generator().manual_seed(1)
    target = torch.randint(0, 5, (5, 6, 7), generator=g)
    target[torch.rand(5, 6, 7, generator=g) < 0.2] = 255
    pred = torch.randint(0, 5, (5, 6, 7), generator=g)
    valid = torch.rand(5, 6, 7, generator=g) < 0.8
    whole, a, b = SegmentationMetric(5), SegmentationMetric(5), SegmentationMetric(5)
    whole.update(pred, target, valid)
    a.update(pred[:2], target[:2], valid[:2])
    b.update(pred[2:], target[2:], valid[2:])
    before = b.confusion.clone()
    a.merge(b)
    assert torch.equal(a.confusion, whole.confusion) and torch.equal(b.confusion, before)
    merged, expected = a.compute(), whole.compute()
    assert merged["pixels"] == expected["pixels"]
    for key in ("miou", "iou", "pixel_acc", "mean_acc"):
        x, y = torch.tensor(merged[key], dtype=torch.float64), torch.tensor(expected[key], dtype=torch.float64)
        assert torch.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True), key


def test_merge_refuses_incompatible_metrics():
    with pytest.raises(ValueError, match="num_classes: 3 and 4"):
        SegmentationMetric(3).merge(SegmentationMetric(4))
    with pytest.raises(ValueError, match="ignore_index: 255 and 0"):
        SegmentationMetric(3).merge(SegmentationMetric(3, ignore_index=0))
    with pytest.raises(ValueError, match="cannot merge a FlowMetric into a SegmentationMetric"):
        SegmentationMetric(3).merge(FlowMetric())
