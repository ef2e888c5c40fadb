"""WindowSpec: the typed description of how a training batch selects its tokens (paper Table 1, App. C)."""

from __future__ import annotations

import re

import pytest
import torch

from helpers import assert_valid
from winwin.windows import WindowSpec


def test_spec_windows_mode_samples_the_configured_windows() -> None:
    spec = WindowSpec(num_windows=3, window_size=[2, 4], extra_tokens=5)
    spec.validate((10, 12))
    w = spec.sample((10, 12), 4, torch.Generator().manual_seed(18))
    assert_valid(w, [(2, 4)] * 3, 4)
    assert spec.num_tokens() == w.num_tokens == 29
    explicit = WindowSpec(sizes=[[5, 5], [3, 2]])
    assert explicit.sample((10, 12), 2).sizes == [(5, 5), (3, 2)]


def test_spec_budget_mode_draws_sizes_in_grid_around_budget() -> None:
    grid = (16, 20)
    spec = WindowSpec(mode="budget", token_budget=60, num_windows_choices=[1, 2, 3], aspect_range=[0.5, 2.0])
    spec.validate(grid)
    gen = torch.Generator().manual_seed(19)
    counts = set()
    for _ in range(40):
        sizes = spec.draw_sizes(grid, gen)
        counts.add(len(sizes))
        assert 1 <= len(sizes) <= 3
        assert all(1 <= h <= grid[0] and 1 <= w <= grid[1] for h, w in sizes)
        total = sum(h * w for h, w in sizes)
        assert 0.6 * 60 <= total <= 1.4 * 60, sizes
    assert counts == {1, 2, 3}
    w = spec.sample(grid, 3, gen)
    assert_valid(w, w.sizes, 3)
    assert spec.num_tokens() is None


def test_spec_budget_range_is_respected() -> None:
    grid = (20, 20)
    spec = WindowSpec(mode="budget", budget_range=[20, 80], num_windows=2)
    gen = torch.Generator().manual_seed(20)
    totals = [sum(h * w for h, w in spec.draw_sizes(grid, gen)) for _ in range(60)]
    assert min(totals) >= 0.6 * 20 and max(totals) <= 1.4 * 80
    assert max(totals) - min(totals) > 20  # the budget actually varies


@pytest.mark.parametrize("grid, aspect", [((5, 40), 4.0), ((40, 5), 0.25)])
def test_spec_budget_windows_clamped_to_small_grid(grid, aspect) -> None:
    # A tall (h/w = 4) or wide (h/w = 1/4) 30-token window does not fit a 5-token side: it is clamped.
    spec = WindowSpec(mode="budget", token_budget=30, num_windows=1, aspect_range=[aspect, aspect])
    ((h, w),) = spec.draw_sizes(grid, torch.Generator().manual_seed(21))
    assert h <= grid[0] and w <= grid[1]
    assert (h, w)[grid.index(5)] == 5  # clamped to the short side of the grid


def test_spec_budget_mode_without_generator_respects_global_seed() -> None:
    spec = WindowSpec(mode="budget", token_budget=40, num_windows_choices=[1, 2, 3])
    runs = []
    with torch.random.fork_rng(devices=[]):  # keep the re-seeding away from the other tests
        for _ in range(2):
            torch.manual_seed(0)
            w = spec.sample((10, 12), 2)
            runs.append((w.boxes, torch.rand(4)))
    assert torch.equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1], runs[1][1])


def test_spec_windows_mode_without_generator_respects_global_seed() -> None:
    spec = WindowSpec(num_windows=2, window_size=[3, 3])
    torch.manual_seed(0)
    a = spec.sample((10, 12), 4)
    torch.manual_seed(0)
    b = spec.sample((10, 12), 4)
    assert torch.equal(a.boxes, b.boxes)


def test_spec_random_tokens_mode() -> None:
    spec = WindowSpec(mode="random_tokens", token_budget=25, extra_tokens=4)
    spec.validate((8, 8))
    w = spec.sample((8, 8), 3, torch.Generator().manual_seed(22))
    assert w.num_tokens == spec.num_tokens() == 29
    assert all(len(set(r)) == 29 for r in w.index.tolist())


def test_spec_full_mode_returns_none() -> None:
    spec = WindowSpec(mode="full")
    spec.validate((4, 4))
    assert spec.sample((4, 4), 2) is None
    assert spec.num_tokens() is None


def test_spec_validate_errors() -> None:
    with pytest.raises(ValueError, match=re.escape("windows.mode must be one of") + ".*'crops'"):
        WindowSpec(mode="crops").validate((10, 10))
    with pytest.raises(ValueError, match="at most 4 fit"):
        WindowSpec(num_windows=5, window_size=[5, 5]).validate((10, 10))
    with pytest.raises(ValueError, match="largest window"):
        WindowSpec(num_windows=1, window_size=[11, 2]).validate((10, 10))
    with pytest.raises(ValueError, match="budget_range"):
        WindowSpec(mode="budget", budget_range=[30, 10]).validate((10, 10))
    with pytest.raises(ValueError, match="at most 50 tokens"):
        WindowSpec(mode="budget", token_budget=80).validate((10, 10))
    with pytest.raises(ValueError, match="max_share_ratio"):
        WindowSpec(mode="budget", token_budget=20, max_share_ratio=0.5).validate((10, 10))
    with pytest.raises(ValueError, match="aspect_range"):
        WindowSpec(mode="budget", token_budget=20, aspect_range=[2.0, 1.0]).validate((10, 10))
    with pytest.raises(ValueError, match="exceed"):
        WindowSpec(mode="random_tokens", token_budget=90, extra_tokens=20).validate((10, 10))
