import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from winwin.tasks.depth.loss import l1_log_loss, silog_loss

# One image, 4 pixels: log target [0, 1, 2, 0], pred_log [1, 0, 4, 0] -> d = [1, -1, 2, 0].
# mean(d) = 2/4 = 0.5, mean(d^2) = (1 + 1 + 4 + 0)/4 = 1.5.
LOG_TARGET = torch.tensor([[0.0, 1.0, 2.0, 0.0]])
PRED_LOG = torch.tensor([[1.0, 0.0, 4.0, 0.0]])
ALL_VALID = torch.ones(1, 4, dtype=torch.bool)


def test_silog_hand_computed():
    target = LOG_TARGET.exp()
    # lam 0.85: 1.5 - 0.85 * 0.25 = 1.2875; lam 1: 1.5 - 0.25 = 1.25; lam 0: 1.5.
    assert float(silog_loss(PRED_LOG, target, ALL_VALID)) == pytest.approx(1.2875, abs=1e-6)
    assert float(silog_loss(PRED_LOG, target, ALL_VALID, lam=1.0)) == pytest.approx(1.25, abs=1e-6)
    assert float(silog_loss(PRED_LOG, target, ALL_VALID, lam=0.0)) == pytest.approx(1.5, abs=1e-6)
    # sqrt form: sqrt(1.2875) = 1.1346806
    assert float(silog_loss(PRED_LOG, target, ALL_VALID, sqrt=True)) == pytest.approx(1.1346806, abs=1e-6)


def test_l1_log_hand_computed():
    # mean |d| = (1 + 1 + 2 + 0) / 4 = 1.0
    assert float(l1_log_loss(PRED_LOG, LOG_TARGET.exp(), ALL_VALID)) == pytest.approx(1.0, abs=1e-6)


positive_depths = st.lists(st.floats(0.01, 100.0), min_size=1, max_size=20)


@settings(max_examples=50, deadline=None)
@given(positive_depths, positive_depths, st.floats(-5.0, 5.0), st.floats(-5.0, 5.0))
def test_silog_lam_1_is_scale_invariant(t0, t1, c0, c1):
    # Two images, each predicted up to its own global scale exp(c): loss 0 with lam = 1, whatever c.
    p = max(len(t0), len(t1))
    target = torch.ones(2, p)
    valid = torch.zeros(2, p, dtype=torch.bool)
    target[0, : len(t0)], valid[0, : len(t0)] = torch.tensor(t0), True
    target[1, : len(t1)], valid[1, : len(t1)] = torch.tensor(t1), True
    pred = target.log() + torch.tensor([[c0], [c1]])
    assert abs(float(silog_loss(pred, target, valid, lam=1.0))) < 1e-6
    # the same prediction is not free without full scale invariance (unless both c are ~0)
    expected_lam0 = (c0**2 + c1**2) / 2
    assert float(silog_loss(pred, target, valid, lam=0.0)) == pytest.approx(expected_lam0, abs=1e-4)


def test_silog_lam_0_is_mean_squared_log_error():
    target = torch.rand(3, 50) * 9 + 0.1
    pred = torch.randn(3, 50)
    valid = torch.ones(3, 50, dtype=torch.bool)
    expected = (pred - target.log()).square().mean()  # equal pixel counts: per-image mean == pooled mean
    assert float(silog_loss(pred, target, valid, lam=0.0)) == pytest.approx(float(expected), rel=1e-5)


def test_losses_average_per_image():
    # image 0: one valid pixel with d = 2; image 1: three valid pixels with d = 0 (one pixel masked).
    # l1: per image 2 and 0 -> 1 (pooled over the 4 pixels: 0.5). silog lam 0: 4 and 0 -> 2 (pooled: 1).
    target = torch.ones(2, 4)
    pred = torch.tensor([[2.0, 9.0, 9.0, 9.0], [0.0, 0.0, 0.0, 9.0]])
    valid = torch.tensor([[True, False, False, False], [True, True, True, False]])
    assert float(l1_log_loss(pred, target, valid)) == pytest.approx(1.0)
    assert float(silog_loss(pred, target, valid, lam=0.0)) == pytest.approx(2.0)


def test_images_without_valid_pixels_are_left_out_of_the_mean():
    target = torch.ones(2, 3)
    pred = torch.tensor([[1.0, 1.0, 1.0], [5.0, 5.0, 5.0]])
    valid = torch.tensor([[True, True, True], [False, False, False]])
    assert float(l1_log_loss(pred, target, valid)) == pytest.approx(1.0)  # not (1 + 0) / 2


@pytest.mark.parametrize("sqrt", [False, True])
def test_invalid_pixels_are_ignored_and_gradients_finite(sqrt):
    # Pixels 0..3 are the hand example; pixels 4..8 are invalid, with targets 0, NaN, negative, inf and a
    # pixel marked valid whose target is 0 (no log depth: treated as invalid).
    bad_target = torch.tensor([[0.0, math.nan, -2.0, math.inf, 0.0]])
    target = torch.cat([LOG_TARGET.exp(), bad_target], 1)  # (1, 9)
    valid = torch.tensor([[True] * 4 + [False] * 4 + [True]])
    pred = torch.cat([PRED_LOG, torch.full((1, 5), 7.0)], 1).requires_grad_()
    for loss_fn, expected in (
        (lambda *a: silog_loss(*a, sqrt=sqrt), math.sqrt(1.2875) if sqrt else 1.2875),
        (l1_log_loss, 1.0),
    ):
        pred.grad = None
        loss = loss_fn(pred, target, valid)
        assert loss.item() == pytest.approx(expected, abs=1e-6)
        loss.backward()
        assert torch.isfinite(pred.grad).all()
        assert (pred.grad[0, 4:] == 0).all()
        assert (pred.grad[0, :3] != 0).all()


def test_sqrt_gradient_is_finite_at_a_perfect_prediction():
    target = torch.rand(2, 6) + 0.5
    pred = target.log().requires_grad_()
    loss = silog_loss(pred, target, torch.ones(2, 6, dtype=torch.bool), sqrt=True)
    loss.backward()
    assert loss.item() < 1e-3
    assert torch.isfinite(pred.grad).all()


@pytest.mark.parametrize("loss_fn", [silog_loss, l1_log_loss, lambda *a: silog_loss(*a, sqrt=True)])
def test_all_invalid_batch_gives_zero_with_a_gradient(loss_fn):
    target = torch.tensor([[0.0, math.nan], [-1.0, 2.0]])
    pred = torch.randn(2, 2, requires_grad=True)
    loss = loss_fn(pred, target, torch.zeros(2, 2, dtype=torch.bool))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros(2, 2))


def test_bf16_prediction():
    target = torch.rand(2, 64) * 5 + 0.2
    pred32 = torch.randn(2, 64)
    valid = torch.rand(2, 64) > 0.3
    pred16 = pred32.bfloat16().requires_grad_()
    loss = silog_loss(pred16, target, valid)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(float(silog_loss(pred16.detach().float(), target, valid)), rel=1e-6)
    assert loss.item() == pytest.approx(float(silog_loss(pred32, target, valid)), rel=2e-2)
    loss.backward()
    assert pred16.grad.dtype == torch.bfloat16 and torch.isfinite(pred16.grad.float()).all()
    assert l1_log_loss(pred16, target, valid).dtype == torch.float32


def test_errors():
    t, v = torch.ones(2, 3), torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"lam must be in \[0, 1\].*got 1.5"):
        silog_loss(torch.zeros(2, 3), t, v, lam=1.5)
    with pytest.raises(ValueError, match=r"got -0.1"):
        silog_loss(torch.zeros(2, 3), t, v, lam=-0.1)
    with pytest.raises(ValueError, match=r"pred_log \(2, 4\), target \(2, 3\)"):
        l1_log_loss(torch.zeros(2, 4), t, v)
    with pytest.raises(ValueError, match=r"\(B, P\)"):
        silog_loss(torch.zeros(2, 3, 1), t[..., None], v[..., None])
    with pytest.raises(ValueError, match="bool"):
        silog_loss(torch.zeros(2, 3), t, v.float())
