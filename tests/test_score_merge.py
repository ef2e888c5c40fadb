"""``Score.merge``: each process of a distributed evaluation scores its shard; the shards combine exactly."""

from __future__ import annotations

import math

import pytest
import torch

from winwin.engine.evaluate import Score
from winwin.engine.step import Batch
from winwin.tasks import build_task
from winwin.tasks.segmentation import SegmentationSettings


def _batch(n: int, g: torch.Generator, classes: int = 4) -> tuple[torch.Tensor, Batch]:
    """Random logits (n, K, H, W) and a segmentation batch with some ignored pixels."""
    target = torch.randint(0, classes, (n, 5, 6), generator=g)
    target[torch.rand(n, 5, 6, generator=g) < 0.2] = 255
    batch = Batch(inputs=[torch.randn(n, 3, 5, 6, generator=g)], target=target, valid=target != 255)
    return torch.randn(n, classes, 5, 6, generator=g), batch


def test_merge_of_two_shards_equals_one_score_over_both():
    task = build_task(SegmentationSettings(num_classes=4))
    g = torch.Generator().manual_seed(5)
    (out1, batch1), (out2, batch2) = _batch(2, g), _batch(3, g)
    whole, a, b = Score(task), Score(task), Score(task)
    whole.update(out1, batch1)
    whole.update(out2, batch2)
    a.update(out1, batch1)
    b.update(out2, batch2)
    before = b.compute()
    a.merge(b)
    merged, expected = a.compute(), whole.compute()
    assert (merged["images"], merged["pixels"]) == (expected["images"], expected["pixels"]) == (5, a.pixels)
    assert a.pixels == int(batch1.valid.sum() + batch2.valid.sum())
    for key in ("loss", "miou", "pixel_acc", "mean_acc"):
        assert math.isclose(merged[key], expected[key], rel_tol=1e-12), key
    assert torch.allclose(torch.tensor(merged["iou"]), torch.tensor(expected["iou"]), rtol=1e-12, equal_nan=True)
    assert b.compute() == before


def test_merge_refuses_scores_of_different_tasks():
    a = Score(build_task(SegmentationSettings(num_classes=4)))
    with pytest.raises(ValueError, match="num_classes: 4 and 5"):
        a.merge(Score(build_task(SegmentationSettings(num_classes=5))))
    with pytest.raises(ValueError, match="cannot merge a dict into a Score"):
        a.merge({})
    assert (a.images, a.pixels, a.loss_sum) == (0, 0, 0.0)
