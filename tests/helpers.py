"""Assertions shared by the tests."""

from __future__ import annotations

import math

import torch

from winwin.windows import Windows


def assert_close(actual, expected, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """torch.allclose with a readable failure (torch.testing.assert_close imports torch.distributed: slow)."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    err = (actual.double() - expected.double()).abs()
    bound = atol + rtol * expected.double().abs()
    assert bool((err <= bound).all()), f"max abs error {err.max().item():.3g} (atol {atol}, rtol {rtol})"


def assert_same_metrics(result: dict, expected: dict) -> None:
    """Two metric dicts hold the same keys and values: ints exactly, floats to 1e-12 relative, NaN == NaN."""
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            same = (math.isnan(value) and math.isnan(result[key])) or math.isclose(result[key], value, rel_tol=1e-12)
            assert same, (key, result[key], value)
        else:
            assert result[key] == value, key


def assert_random_joint_flip(plain: dict, flipping, key: str = "label") -> None:
    """``flipping[0]`` is either ``plain`` or its mirror image, image and target (``key``) together, and both
    happen."""
    assert not torch.equal(plain[key], plain[key].flip(-1))  # a mirror can be told apart
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        item = flipping[0]
        flipped = torch.equal(item[key], plain[key].flip(-1))
        assert flipped or torch.equal(item[key], plain[key])
        assert torch.equal(item["image"], plain["image"].flip(-1) if flipped else plain["image"])
        seen.add(flipped)
    assert seen == {True, False}


def occupancy(windows: Windows) -> torch.Tensor:
    """(B, gh, gw) number of windows covering each cell, counted box by box."""
    gh, gw = windows.grid_hw
    count = torch.zeros(windows.batch_size, gh, gw, dtype=torch.long)
    for b, row in enumerate(windows.boxes.tolist()):
        for top, left, h, w in row:
            count[b, top : top + h, left : left + w] += 1
    return count


def expected_index(windows: Windows) -> torch.Tensor:
    """(B, T_windows) flat indices y * gw + x, window after window, row-major inside each."""
    gw = windows.grid_hw[1]
    rows = []
    for row in windows.boxes.tolist():
        rows.append([(top + dy) * gw + (left + dx) for top, left, h, w in row for dy in range(h) for dx in range(w)])
    return torch.tensor(rows, dtype=torch.long)


def assert_valid(windows: Windows, sizes: list[tuple[int, int]], batch_size: int) -> None:
    """Boxes in the grid, of the requested sizes, non-overlapping; index and pos follow the boxes."""
    gh, gw = windows.grid_hw
    boxes = windows.boxes
    assert boxes.shape == (batch_size, len(sizes), 4)
    assert windows.sizes == sizes
    assert (boxes[..., 2:] == torch.tensor(sizes)).all()
    assert (boxes[..., 0] >= 0).all() and (boxes[..., 1] >= 0).all()
    assert (boxes[..., 0] + boxes[..., 2] <= gh).all() and (boxes[..., 1] + boxes[..., 3] <= gw).all()
    assert occupancy(windows).max() <= 1, "windows overlap"
    n_win = sum(h * w for h, w in sizes)
    assert windows.num_window_tokens == n_win
    assert windows.index.shape == (batch_size, n_win + windows.num_extra)
    assert torch.equal(windows.index[:, :n_win], expected_index(windows))
    assert windows.pos.shape == (batch_size, windows.num_tokens, 2)
    assert torch.equal(windows.pos[..., 0] * gw + windows.pos[..., 1], windows.index)
    assert (windows.pos[..., 0] < gh).all() and (windows.pos[..., 1] < gw).all() and (windows.pos >= 0).all()


# A tiny end-to-end experiment (train -> checkpoint -> eval) as key=value overrides, seconds on one core, on the
# CPU whatever the machine has (the tests compare its results with CPU evaluations): the settings every task
# shares, then segmentation (TINY), monocular depth (TINY_DEPTH) and flow (TINY_FLOW).
_TINY_COMMON = [
    "model.arch=demo", "model.embed_dim=32", "model.num_heads=2", "model.depth=2",
    "windows.num_windows=2", "windows.window_size=[2, 2]",
    "data.image_size=[64, 96]", "data.train_length=4", "data.val_length=2",
    "train.steps=3", "train.batch_size=2", "train.log_every=1", "train.ckpt_every=2", "train.threads=1",
    "train.device=cpu", "optim.warmup_steps=1", "optim.lr=0.001",
]  # fmt: skip
TINY = [*_TINY_COMMON, "model.head_width=8", "task.num_classes=8"]
TINY_DEPTH = [*_TINY_COMMON, "task.name=depth", "model.dpt_features=8"]
TINY_FLOW = [
    *_TINY_COMMON, "task.name=flow", "model.dpt_features=8", "model.decoder_dim=32", "model.decoder_heads=2",
    "model.decoder_depth=2", "task.frame2_sizes=[[1, 2], [1, 2], [2, 1]]",
]  # fmt: skip


def cli(*parts) -> int:
    """``winwin.cli.main`` on words: strings are split on spaces, anything else (a Path) is one argument.

    cli("calibrate", run, "--sweep 0.5:1.5:0.5 --quiet --out", out) == main(["calibrate", str(run), ...])"""
    from winwin.cli import main

    return main([w for p in parts for w in (p.split() if isinstance(p, str) else [str(p)])])
