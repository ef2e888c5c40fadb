"""The benchmark variants of the flow evaluation: Sintel's matched / unmatched EPE, Spring's 2x comparison,
and the tables ``winwin eval`` prints."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_same_metrics
from winwin.tasks.flow import FlowTask
from winwin.tasks.flow.metric import FlowMetric
from winwin.tasks.flow.scores import FlowScores


def test_matched_and_unmatched_epe_by_hand():
    pred = torch.zeros(1, 2, 1, 4)  # 4 pixels, predicted still
    target = torch.tensor([[[[3.0, 4.0, 0.0, 6.0]], [[4.0, 0.0, 1.0, 8.0]]]])  # EPE 5, 4, 1, 10
    valid = torch.tensor([[[True, True, True, False]]])
    occluded = torch.tensor([[[False, True, False, True]]])
    scores = FlowScores()
    scores.update(pred, target, valid, {"occluded": occluded})
    out = scores.compute()
    assert out["epe"] == pytest.approx((5 + 4 + 1) / 3)
    assert out["epe_matched"] == pytest.approx((5 + 1) / 2)
    assert out["epe_unmatched"] == pytest.approx(4.0)  # the 4th pixel is occluded but not valid
    lines = "\n".join(FlowTask().eval_lines(out))
    assert "EPE matched" in lines and "3.000 | 4.000" in lines and "Spring" not in lines


def test_spring_2x_takes_the_best_of_each_block():
    pred = torch.tensor([[[[1.0]], [[0.0]]]])  # one pixel (u, v) = (1, 0)
    flow_2x = torch.tensor([[[[1.0, 5.0], [9.0, 1.5]], [[0.0, 0.0], [0.0, 0.0]]]])  # errors 0, 4, 8, 0.5
    valid_2x = torch.tensor([[[False, True], [True, True]]])  # the exact match is not valid
    scores = FlowScores()
    scores.update(pred, flow_2x[..., :1, :1], None, {"flow_2x": flow_2x, "valid_2x": valid_2x})
    out = scores.compute()
    assert out["2x_epe"] == pytest.approx(0.5) and out["2x_1px"] == 0.0 and out["2x_count"] == 1
    assert out["epe"] == 0.0  # the image-resolution score uses the target given (the top-left pixel)
    assert "Spring" in "\n".join(FlowTask().eval_lines(out))


def test_without_extras_only_the_plain_table():
    scores = FlowScores()
    scores.update(torch.zeros(2, 2, 3, 3), torch.ones(2, 2, 3, 3), torch.ones(2, 3, 3, dtype=torch.bool))
    out = scores.compute()
    assert out["epe"] == pytest.approx(2**0.5) and "epe_matched" not in out and "2x_epe" not in out
    assert len(FlowTask().eval_lines(out)) == 3


def test_the_task_passes_the_extras_it_finds():
    batch = {"flow": torch.zeros(1, 2, 2, 2), "occluded": torch.zeros(1, 2, 2, dtype=torch.bool), "index": 0}
    assert set(FlowTask().extras(batch)) == {"occluded"}


@pytest.mark.parametrize("per_image", [False, True])
def test_merge_of_two_shards_equals_one_score_over_all_images(per_image):
    g = torch.Generator().manual_seed(4)
    pred = torch.randn(5, 2, 4, 6, generator=g, dtype=torch.float64) * 20
    target = pred + torch.randn(5, 2, 4, 6, generator=g, dtype=torch.float64) * 4
    valid = torch.rand(5, 4, 6, generator=g) < 0.8
    occluded = torch.rand(5, 4, 6, generator=g) < 0.3
    flow_2x = target.repeat_interleave(2, 2).repeat_interleave(2, 3)
    flow_2x = flow_2x + torch.randn(flow_2x.shape, generator=g, dtype=torch.float64)
    valid_2x = torch.rand(5, 8, 12, generator=g) < 0.6
    every = {"occluded": occluded, "flow_2x": flow_2x, "valid_2x": valid_2x}
    # Extras only on images 2-4 (shard B), so that merging copies the variants A lacks.
    extras = {k: v[2:] for k, v in every.items()}
    whole, a, b = (FlowScores(per_image) for _ in range(3))
    whole.update(pred[:2], target[:2], valid[:2])
    whole.update(pred[2:], target[2:], valid[2:], extras)
    a.update(pred[:2], target[:2], valid[:2])
    b.update(pred[2:], target[2:], valid[2:], extras)
    before = b.compute()
    a.merge(b)
    assert_same_metrics(a.compute(), whole.compute())
    assert "epe_matched" in a.compute() and "2x_epe" in a.compute()
    assert a.spring is not b.spring and a.matched is not b.matched  # copies, not shared
    a.update(pred[2:], target[2:], valid[2:], extras)  # A goes on; B must not change
    assert_same_metrics(b.compute(), before)
    # Both with every variant: they add.
    c, whole = FlowScores(per_image), FlowScores(per_image)
    c.update(pred[:2], target[:2], valid[:2], {k: v[:2] for k, v in every.items()})
    c.merge(b)
    whole.update(pred, target, valid, every)
    assert_same_metrics(c.compute(), whole.compute())


def test_merge_refuses_incompatible_scores():
    with pytest.raises(ValueError, match="per_image: False and True"):
        FlowScores().merge(FlowScores(per_image=True))
    with pytest.raises(ValueError, match="cannot merge a FlowMetric into a FlowScores"):
        FlowScores().merge(FlowMetric())
