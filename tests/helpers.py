"""Assertions shared by the tests."""

from __future__ import annotations

import torch


def assert_close(actual, expected, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """torch.allclose with a readable failure (torch.testing.assert_close imports torch.distributed: slow)."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    err = (actual.double() - expected.double()).abs()
    bound = atol + rtol * expected.double().abs()
    assert bool((err <= bound).all()), f"max abs error {err.max().item():.3g} (atol {atol}, rtol {rtol})"


def assert_random_joint_flip(plain: dict, flipping) -> None:
    """``flipping[0]`` is either ``plain`` or its mirror image, image and label together, and both happen."""
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        item = flipping[0]
        flipped = torch.equal(item["label"], plain["label"].flip(-1))
        assert flipped or torch.equal(item["label"], plain["label"])
        assert torch.equal(item["image"], plain["image"].flip(-1) if flipped else plain["image"])
        seen.add(flipped)
    assert seen == {True, False}
