import math

import pytest
import torch

from winwin.tasks.flow.loss import bounded_confidence, epe_loss, laplacian_loss

ALL = torch.ones(1, 1, dtype=torch.bool)


def _pixels(*uvc) -> torch.Tensor:
    """Per-pixel tuples -> (1, K, P)."""
    return torch.tensor(uvc, dtype=torch.float32).T[None]


def test_bounded_confidence():
    # c = 0: sigmoid 1/2 -> c' = 0.25 + 3.75 / 2 = 2.125; c -> -inf: a; c -> +inf: b.
    c = torch.tensor([0.0, -100.0, 100.0])
    assert bounded_confidence(c).tolist() == pytest.approx([2.125, 0.25, 4.0])
    assert float(bounded_confidence(torch.tensor(0.0), a=1.0, b=3.0)) == pytest.approx(2.0)


def test_laplacian_hand_computed():
    # pred (1, 2), gt (0, 0): |e|_1 = 1 + 2 = 3; c = 0 -> c' = 2.125;
    # loss = 3 / 2.125 + ln 2.125 = 1.4117647 + 0.7537718 = 2.1655365.
    loss = laplacian_loss(_pixels((1.0, 2.0, 0.0)), torch.zeros(1, 2, 1), ALL)
    assert float(loss) == pytest.approx(2.1655365, abs=1e-6)
    # A second pixel pred (0, -1), gt (0, 0): |e|_1 = 1 -> 1 / 2.125 + ln 2.125 = 1.2243600;
    # the mean of the two: (2.1655365 + 1.2243600) / 2 = 1.6949483.
    two = laplacian_loss(_pixels((1.0, 2.0, 0.0), (0.0, -1.0, 0.0)), torch.zeros(1, 2, 2), torch.ones(1, 2).bool())
    assert float(two) == pytest.approx(1.6949483, abs=1e-6)


def test_laplacian_mean_over_valid_pixels_of_the_batch():
    # Image 0 holds the |e|_1 = 3 pixel (2.1655365) and an invalid NaN-target pixel; image 1 two |e|_1 = 1
    # pixels (1.2243600 each): the mean over the 3 valid pixels is (2.1655365 + 2 * 1.2243600) / 3 = 1.5380855,
    # not the mean of the per-image means (2.1655365 + 1.2243600) / 2.
    output = torch.tensor([[[1.0, 50.0], [2.0, 50.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    target = torch.zeros(2, 2, 2)
    target[0, :, 1] = math.nan
    valid = torch.ones(2, 2, dtype=torch.bool)
    output.requires_grad_(True)
    loss = laplacian_loss(output, target, valid)
    assert float(loss.detach()) == pytest.approx(1.5380855, abs=1e-6)
    loss.backward()
    assert torch.isfinite(output.grad).all()
    assert output.grad[0, :, 1].abs().sum() == 0  # the invalid pixel gets no gradient


def test_laplacian_gradient_pushes_confidence_toward_the_error():
    # d/dc' (|e| / c' + ln c') = (c' - |e|) / c'^2: with c = 0 (c' = 2.125), an error |e|_1 = 1 lowers c'
    # (positive gradient), an error 3 raises it.
    for err, sign in ((1.0, 1.0), (3.0, -1.0)):
        c = torch.zeros(1, 1, 1, requires_grad=True)
        output = torch.cat([torch.tensor([[[err], [0.0]]]), c], 1)  # (1, 3, 1)
        laplacian_loss(output, torch.zeros(1, 2, 1), ALL).backward()
        assert math.copysign(1.0, float(c.grad)) == sign
    # Gradient descent on c alone: c' converges to the minimum at c' = |e|_1 = 0.5 + 1.0 = 1.5 (inside [a, b]).
    c = torch.zeros(1, 1, 1, requires_grad=True)
    opt = torch.optim.SGD([c], lr=2.0)
    for _ in range(300):
        opt.zero_grad()
        laplacian_loss(torch.cat([torch.tensor([[[0.5], [-1.0]]]), c], 1), torch.zeros(1, 2, 1), ALL).backward()
        opt.step()
    assert float(bounded_confidence(c.detach())) == pytest.approx(1.5, abs=1e-3)


def test_no_valid_pixel_is_zero_with_a_graph():
    output = torch.randn(2, 3, 4, requires_grad=True)
    loss = laplacian_loss(output, torch.full((2, 2, 4), math.nan), torch.zeros(2, 4, dtype=torch.bool))
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(output.grad, torch.zeros_like(output))


def test_epe_loss_hand_computed():
    # pred (3, 4) vs gt (0, 0): EPE 5 (3-4-5); pred (0, 1) vs gt (0, 0): EPE 1; a third pixel invalid.
    # mean over the 2 valid pixels: (5 + 1) / 2 = 3.
    output = _pixels((3.0, 4.0), (0.0, 1.0), (100.0, 100.0))
    valid = torch.tensor([[True, True, False]])
    assert float(epe_loss(output, torch.zeros(1, 2, 3), valid)) == pytest.approx(3.0, abs=1e-5)


def test_epe_loss_gradient_finite_at_a_perfect_prediction():
    output = torch.zeros(1, 2, 2, requires_grad=True)
    epe_loss(output, torch.zeros(1, 2, 2), torch.ones(1, 2, dtype=torch.bool)).backward()
    assert torch.isfinite(output.grad).all()


def test_bounds_and_shape_errors():
    with pytest.raises(ValueError, match="0 < a < b.*got a 4.0, b 0.25"):
        bounded_confidence(torch.zeros(1), a=4.0, b=0.25)
    with pytest.raises(ValueError, match="0 < a < b.*got a 0.0, b 4.0"):
        laplacian_loss(torch.zeros(1, 3, 1), torch.zeros(1, 2, 1), ALL, a=0.0)
    with pytest.raises(ValueError, match=r"output must be \(B, 3, P\) \(u, v, c\); got \(1, 2, 5\)"):
        laplacian_loss(torch.zeros(1, 2, 5), torch.zeros(1, 2, 5), torch.ones(1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"output must be \(B, 2, P\) \(u, v\); got \(1, 3, 5\)"):
        epe_loss(torch.zeros(1, 3, 5), torch.zeros(1, 2, 5), torch.ones(1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"target must be \(B, 2, P\) = \(1, 2, 5\); got \(1, 2, 4\)"):
        laplacian_loss(torch.zeros(1, 3, 5), torch.zeros(1, 2, 4), torch.ones(1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"valid mask must be bool of shape \(B, P\) = \(1, 5\); got torch.float32"):
        laplacian_loss(torch.zeros(1, 3, 5), torch.zeros(1, 2, 5), torch.ones(1, 5))
