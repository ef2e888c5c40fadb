"""Backward warping and the photometric error of a flow."""

from __future__ import annotations

import pytest
import torch

from winwin.tasks.flow.warp import backward_warp, photometric_error


def test_a_true_translation_warps_frame_2_back_onto_frame_1():
    torch.manual_seed(0)
    scene = torch.rand(1, 3, 20, 30)
    image1, image2 = scene[..., :, 5:25], scene[..., :, 3:23]  # frame-1 column j shows frame-2 column j + 2
    flow = torch.zeros(1, 2, 20, 20)
    flow[:, 0] = 2.0
    warped, inside = backward_warp(image2, flow)
    assert inside[0, :, :18].all() and not inside[0, :, 18:].any()
    assert torch.allclose(warped[..., :18], image1[..., :18], atol=1e-6)
    assert photometric_error(image1, image2, flow).item() == pytest.approx(0.0, abs=1e-6)
    assert photometric_error(image1, image2, torch.zeros_like(flow)).item() > 0.1


def test_half_pixel_flow_interpolates():
    image2 = torch.tensor([[[[0.0, 10.0, 20.0]]]])  # (1, 1, 1, 3)
    flow = torch.full((1, 2, 1, 3), 0.0)
    flow[:, 0] = 0.5
    warped, inside = backward_warp(image2, flow)
    assert warped.flatten().tolist()[:2] == [5.0, 15.0] and inside.tolist() == [[[True, True, False]]]


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same size"):
        backward_warp(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 5))
