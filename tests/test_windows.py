"""Window sampling: validity of boxes, index/pos layout, reproducibility, coverage, errors.

WindowSpec has its own file: test_window_spec.py."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close, assert_valid, occupancy
from winwin.windows import (
    Windows,
    coverage,
    crop_window_pixels,
    from_boxes,
    max_windows_that_fit,
    sample_windows,
    window_pixel_index,
)

FEW = settings(max_examples=25, deadline=None, derandomize=True)


# --- validity ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grid, n, size",
    [((14, 14), 2, (5, 5)), ((12, 20), 3, (4, 6)), ((7, 9), 4, (3, 2)), ((32, 48), 2, (14, 14)), ((6, 6), 1, (6, 6))],
)
@pytest.mark.parametrize("balance", [True, False])
def test_windows_inside_grid_and_disjoint(grid, n, size, balance) -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        w = sample_windows(grid, n, size, 64, gen, balance=balance)
        assert w.grid_hw == grid and w.num_extra == 0
        assert_valid(w, [size] * n, 64)


@st.composite
def equal_windows(draw):
    gh, gw = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    h, w = draw(st.integers(1, gh)), draw(st.integers(1, gw))
    n = draw(st.integers(1, max_windows_that_fit((gh, gw), (h, w))))
    return (gh, gw), n, (h, w), draw(st.booleans()), draw(st.integers(0, 2**16))


@FEW
@given(equal_windows())
def test_property_equal_windows_valid(case) -> None:
    grid, n, size, balance, seed = case
    w = sample_windows(grid, n, size, 8, torch.Generator().manual_seed(seed), balance=balance)
    assert_valid(w, [size] * n, 8)


@st.composite
def two_mixed_windows(draw):
    # Each window at most a third of the grid on each axis: a second window always fits next to the first.
    gh, gw = draw(st.integers(3, 24)), draw(st.integers(3, 24))
    sizes = [(draw(st.integers(1, gh // 3)), draw(st.integers(1, gw // 3))) for _ in range(2)]
    return (gh, gw), sizes, draw(st.integers(0, 3)), draw(st.integers(0, 2**16))


@FEW
@given(two_mixed_windows())
def test_property_mixed_windows_with_extras_valid(case) -> None:
    grid, sizes, extra, seed = case
    w = sample_windows(grid, 2, sizes, 6, torch.Generator().manual_seed(seed), extra_tokens=extra)
    assert_valid(w, sizes, 6)
    assert w.num_extra == extra
    assert_extras_outside_and_distinct(w)


def test_different_window_sizes_per_window() -> None:
    sizes = [(6, 4), (2, 7), (3, 3)]
    w = sample_windows((16, 20), 3, sizes, 128, torch.Generator().manual_seed(4))
    assert_valid(w, sizes, 128)
    assert w.num_window_tokens == 24 + 14 + 9


def test_single_window_is_a_crop() -> None:
    w = sample_windows((10, 15), 1, (4, 9), 200, torch.Generator().manual_seed(5))
    assert_valid(w, [(4, 9)], 200)
    assert len(set(map(tuple, w.boxes[:, 0, :2].tolist()))) > 10  # the crop moves around


def test_tight_packing_that_only_fits_exactly() -> None:
    gen = torch.Generator().manual_seed(6)
    w = sample_windows((10, 20), 2, (10, 10), 16, gen)
    assert_valid(w, [(10, 10)] * 2, 16)
    assert sorted(map(tuple, w.boxes[0, :, :2].tolist())) == [(0, 0), (0, 10)]
    w = sample_windows((10, 10), 4, (5, 5), 16, gen)
    assert_valid(w, [(5, 5)] * 4, 16)
    assert (occupancy(w) == 1).all()  # the four windows tile the grid
    w = sample_windows((11, 7), 6, (3, 3), 64, gen)  # 3 x 2 lattice, slack of 2 rows and 1 column
    assert_valid(w, [(3, 3)] * 6, 64)


@pytest.mark.parametrize("grid, n, size", [((11, 7), 6, (3, 3)), ((10, 20), 2, (10, 10)), ((13, 9), 5, (4, 2))])
def test_lattice_fallback_is_valid(grid, n, size) -> None:
    # max_tries=0 skips random placement: every row takes the shifted-lattice packing.
    extra = min(2, grid[0] * grid[1] - n * size[0] * size[1])
    w = sample_windows(grid, n, size, 200, torch.Generator().manual_seed(23), max_tries=0, extra_tokens=extra)
    assert_valid(w, [size] * n, 200)
    assert_extras_outside_and_distinct(w)
    if grid[0] % size[0]:  # there is slack: the lattice shift varies across rows
        assert len(set(w.boxes[:, :, 0].min(1).values.tolist())) > 1


# --- extra and single tokens ------------------------------------------------------------------------------


def assert_extras_outside_and_distinct(w: Windows) -> None:
    n_win = w.num_window_tokens
    extras = w.index[:, n_win:]
    assert extras.shape[1] == w.num_extra
    gh, gw = w.grid_hw
    covered = occupancy(w).flatten(1) > 0  # (B, gh*gw)
    for b in range(w.batch_size):
        row = extras[b].tolist()
        assert len(set(row)) == len(row), "extra tokens repeat"
        assert all(0 <= i < gh * gw for i in row)
        assert not covered[b, extras[b]].any(), "an extra token lies inside a window"


def test_extra_tokens_outside_windows_and_distinct() -> None:
    w = sample_windows((12, 12), 2, (4, 5), 50, torch.Generator().manual_seed(7), extra_tokens=30)
    assert_valid(w, [(4, 5)] * 2, 50)
    assert w.num_extra == 30 and w.num_tokens == 40 + 30
    assert_extras_outside_and_distinct(w)


def test_extra_tokens_fill_the_rest_of_the_grid() -> None:
    w = sample_windows((6, 6), 2, (3, 3), 10, torch.Generator().manual_seed(8), extra_tokens=18)
    assert_extras_outside_and_distinct(w)
    for row in w.index.tolist():
        assert sorted(row) == list(range(36))


def test_random_single_tokens_distinct() -> None:
    w = sample_windows((8, 9), 40, (1, 1), 30, torch.Generator().manual_seed(9), extra_tokens=12)
    assert_valid(w, [(1, 1)] * 40, 30)
    for row in w.index.tolist():
        assert len(set(row)) == 52
    assert_extras_outside_and_distinct(w)


# --- reproducibility and coverage -------------------------------------------------------------------------


@pytest.mark.parametrize("sizes, extra", [([(4, 4), (4, 4)], 0), ([(5, 3), (2, 6)], 7), ([(1, 1)] * 10, 3)])
def test_same_seed_same_windows_different_seed_different(sizes, extra) -> None:
    def draw(seed: int) -> Windows:
        return sample_windows((12, 14), len(sizes), sizes, 16, torch.Generator().manual_seed(seed), extra_tokens=extra)

    a, b, c = draw(11), draw(11), draw(12)
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.index, b.index) and torch.equal(a.pos, b.pos)
    assert not torch.equal(a.index, c.index)


def test_rows_of_a_batch_differ() -> None:
    w = sample_windows((12, 14), 2, (4, 4), 32, torch.Generator().manual_seed(13))
    assert len({tuple(r) for r in w.index.tolist()}) > 16


def ratio(cov: torch.Tensor) -> float:
    return float(cov.max() / cov.min())


@pytest.mark.parametrize(
    "grid, n, sizes",
    [((12, 16), 2, (5, 5)), ((9, 9), 1, (4, 4)), ((10, 14), 2, [(6, 3), (3, 6)]), ((7, 11), 3, (3, 3))],
)
def test_every_cell_is_covered(grid, n, sizes) -> None:
    w = sample_windows(grid, n, sizes, 600, torch.Generator().manual_seed(14))
    assert coverage(w).shape == grid
    assert coverage(w).min() > 0


def test_coverage_counts_fraction_of_rows() -> None:
    boxes = torch.tensor([[[0, 0, 2, 2]], [[1, 1, 2, 2]]])
    cov = coverage(from_boxes(boxes, (3, 3)))
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 0.5]])
    assert_close(cov, expected)


@pytest.mark.parametrize("grid, n, size", [((12, 16), 2, (5, 5)), ((10, 10), 1, (4, 4))])
def test_balanced_sampler_covers_borders_much_more_evenly(grid, n, size) -> None:
    gen = torch.Generator().manual_seed(15)
    balanced = coverage(sample_windows(grid, n, size, 1000, gen, balance=True))
    uniform = coverage(sample_windows(grid, n, size, 1000, gen, balance=False))
    assert ratio(uniform) > 8.0  # the corner is rarely seen with uniform corners
    assert ratio(balanced) < 4.0
    assert ratio(balanced) * 3 < ratio(uniform)
    corner, centre = (0, 0), (grid[0] // 2, grid[1] // 2)
    assert balanced[corner] > 3 * uniform[corner]
    assert balanced[centre] < uniform[centre]


# --- errors -----------------------------------------------------------------------------------------------


def test_window_larger_than_grid() -> None:
    with pytest.raises(ValueError, match=r"largest window: 8x6"):
        sample_windows((8, 6), 1, (9, 3), 1)
    with pytest.raises(ValueError, match=r"largest window: 8x6"):
        sample_windows((8, 6), 2, [(2, 2), (3, 7)], 1)


@pytest.mark.parametrize(
    "grid, n, size, most",
    [((20, 30), 4, (12, 12), 2), ((10, 10), 5, (5, 5), 4), ((7, 7), 3, (4, 4), 1), ((9, 20), 7, (3, 7), 6)],
)
def test_too_many_windows(grid, n, size, most) -> None:
    with pytest.raises(ValueError, match=rf"at most {most} fit"):
        sample_windows(grid, n, size, 1)


def test_extras_exceeding_grid() -> None:
    with pytest.raises(ValueError, match="extra tokens exceed"):
        sample_windows((4, 4), 1, (3, 3), 1, extra_tokens=8)
    with pytest.raises(ValueError, match="extra tokens exceed"):
        sample_windows((4, 4), 10, (1, 1), 1, extra_tokens=7)
    sample_windows((4, 4), 1, (3, 3), 1, extra_tokens=7)  # exactly fills the grid: allowed


@pytest.mark.parametrize("n, sizes", [(0, (2, 2)), (2, (0, 3)), (3, [(2, 2), (2, 2)])])
def test_bad_requests(n, sizes) -> None:
    with pytest.raises(ValueError):
        sample_windows((8, 8), n, sizes, 1)


def test_from_boxes_rejects_sizes_that_differ_across_rows() -> None:
    boxes = torch.tensor([[[0, 0, 2, 2]], [[0, 0, 3, 2]]])
    with pytest.raises(ValueError, match="agree"):
        from_boxes(boxes, (5, 5))


# --- pixels and maps --------------------------------------------------------------------------------------


def test_crop_window_pixels_are_the_pixels_under_each_box() -> None:
    p = 4
    w = sample_windows((6, 8), 2, [(3, 2), (2, 4)], 5, torch.Generator().manual_seed(16), extra_tokens=3)
    img = torch.randn(5, 3, 6 * p, 8 * p)
    labels = torch.randint(0, 10, (5, 6 * p, 8 * p))
    crops, label_crops = crop_window_pixels(img, w, p), crop_window_pixels(labels, w, p)
    assert len(crops) == len(label_crops) == 2
    for i, (h, wd) in enumerate(w.sizes):
        assert crops[i].shape == (5, 3, h * p, wd * p) and label_crops[i].shape == (5, h * p, wd * p)
        for b in range(5):
            top, left = (int(v) for v in w.boxes[b, i, :2])
            ys, xs = slice(top * p, (top + h) * p), slice(left * p, (left + wd) * p)
            assert torch.equal(crops[i][b], img[b, :, ys, xs])
            assert torch.equal(label_crops[i][b], labels[b, ys, xs])


def test_window_pixel_index_gathers_the_crops_in_order() -> None:
    p = 4
    w = sample_windows((6, 8), 2, [(3, 2), (2, 4)], 5, torch.Generator().manual_seed(16), extra_tokens=3)
    img = torch.randn(5, 3, 6 * p, 8 * p)
    index = window_pixel_index(w, p, 8 * p)  # (B, P)
    expected = torch.cat([c.flatten(-2) for c in crop_window_pixels(img, w, p)], dim=-1)  # (B, 3, P)
    assert torch.equal(img.flatten(-2).gather(-1, index[:, None].expand(-1, 3, -1)), expected)


def test_crop_window_pixels_rejects_wrong_image_size() -> None:
    w = sample_windows((6, 8), 1, (2, 2), 1)
    with pytest.raises(ValueError, match="do not match"):
        crop_window_pixels(torch.zeros(1, 3, 7 * 4, 8 * 4), w, 4)


def test_split_maps_layout() -> None:
    gh, gw, C = 7, 9, 3
    w = sample_windows((gh, gw), 2, [(2, 3), (4, 2)], 4, torch.Generator().manual_seed(17), extra_tokens=5)
    # Token t of row b carries (its flat grid index, b, channel) so every value says where it came from.
    code = w.index.to(torch.float32)[..., None] * 100 + torch.arange(C)  # (B, T, C)
    code = code + torch.arange(4)[:, None, None] * 10_000
    maps = w.split_maps(code)
    assert [m.shape for m in maps] == [(4, C, 2, 3), (4, C, 4, 2)]
    for i, m in enumerate(maps):
        for b in range(4):
            top, left, h, wd = (int(v) for v in w.boxes[b, i])
            for y in range(h):
                for x in range(wd):
                    flat = (top + y) * gw + (left + x)
                    expected = flat * 100 + torch.arange(C, dtype=torch.float32) + b * 10_000
                    assert torch.equal(m[b, :, y, x], expected)


def test_split_maps_rejects_wrong_token_count() -> None:
    w = sample_windows((5, 5), 1, (2, 2), 2, extra_tokens=1)
    with pytest.raises(ValueError, match="got 4 tokens for windows holding 5"):
        w.split_maps(torch.zeros(2, 4, 3))


def test_full_windows_cover_the_grid_in_row_major_order() -> None:
    w = Windows.full((3, 5), 2)
    assert w.boxes.tolist() == [[[0, 0, 3, 5]]] * 2
    assert w.index.tolist() == [list(range(15))] * 2
    assert w.to("cpu").grid_hw == (3, 5)
