"""Flow-guided second-frame windows (paper Appendix B): binning against a per-pixel reference, recovery of
translated windows, validity of every placement, fallbacks, noise and errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close, assert_valid, occupancy
from winwin.windows import Windows, from_boxes, sample_flow_guided_windows, sample_windows
from winwin.windows.flow_guided import bin_flow_end_points, same_windows

FEW = settings(max_examples=25, deadline=None, derandomize=True)


def translation(batch: int, grid: tuple[int, int], p: int, u: float, v: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Constant flow (u along x, v along y) in pixels, valid everywhere: flow (B, 2, H, W), valid (B, H, W)."""
    H, W = grid[0] * p, grid[1] * p
    flow = torch.tensor([u, v], dtype=torch.float32).view(1, 2, 1, 1).expand(batch, 2, H, W).contiguous()
    return flow, torch.ones(batch, H, W, dtype=torch.bool)


def reference_counts(first: Windows, flow: torch.Tensor, valid: torch.Tensor, p: int) -> torch.Tensor:
    """(B, gh, gw) end points per token, pixel by pixel (float32 sums, like the library)."""
    gh, gw = first.grid_hw
    inside = occupancy(first) > 0  # (B, gh, gw)
    counts = torch.zeros(first.batch_size, gh, gw)
    for b in range(first.batch_size):
        for y in range(gh * p):
            for x in range(gw * p):
                if not (inside[b, y // p, x // p] and valid[b, y, x]):
                    continue
                ex = float(torch.tensor(float(x)) + flow[b, 0, y, x])
                ey = float(torch.tensor(float(y)) + flow[b, 1, y, x])
                if not (math.isfinite(ex) and math.isfinite(ey)):
                    continue
                tx, ty = math.floor(ex) // p, math.floor(ey) // p
                if 0 <= tx < gw and 0 <= ty < gh:
                    counts[b, ty, tx] += 1
    return counts


def box_sums(counts: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, gh, gw) -> (B, gh-h+1, gw-w+1) sum under every h x w window, by slicing."""
    B, gh, gw = counts.shape
    out = torch.zeros(B, gh - h + 1, gw - w + 1)
    for y in range(gh - h + 1):
        for x in range(gw - w + 1):
            out[:, y, x] = counts[:, y : y + h, x : x + w].sum((1, 2))
    return out


def window_sum(counts: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """counts (B, gh, gw), boxes (B, 4) -> (B,) sum of counts under each row's box."""
    return torch.stack([counts[b, y : y + h, x : x + w].sum() for b, (y, x, h, w) in enumerate(boxes.tolist())])


# --- (a) translation by whole tokens ----------------------------------------------------------------------


@pytest.mark.parametrize("shift", [(1, 2), (-2, -1), (0, 3)])
@pytest.mark.parametrize("n, size", [(2, (3, 3)), (3, (2, 2)), (1, (4, 5)), (4, (2, 3))])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_translation_by_whole_tokens_covers_exactly_the_moved_windows(shift, n, size, seed) -> None:
    # Frame-1 windows are drawn where their translate stays in the grid; the flow moves every pixel by
    # (dy, dx) tokens, so frame 2's best windows of the same sizes are exactly the moved windows.
    (dy, dx), (gh, gw), p, B = shift, (9, 12), 2, 8
    gen = torch.Generator().manual_seed(seed)
    inner = sample_windows((gh - abs(dy), gw - abs(dx)), n, size, B, gen)
    boxes = inner.boxes.clone()
    boxes[..., 0] += max(-dy, 0)
    boxes[..., 1] += max(-dx, 0)
    first = from_boxes(boxes, (gh, gw))
    moved = boxes.clone()
    moved[..., 0] += dy
    moved[..., 1] += dx
    flow, valid = translation(B, (gh, gw), p, dx * p, dy * p)
    state = gen.get_state()
    second = sample_flow_guided_windows(first, flow, valid, p, [size] * n, stochasticity=0.0, generator=gen)
    assert torch.equal(gen.get_state(), state), "stochasticity 0 must not draw random numbers"
    assert_valid(second, [size] * n, B)
    assert torch.equal(occupancy(second), occupancy(from_boxes(moved, (gh, gw))))


# --- (b) binning and the greedy choice --------------------------------------------------------------------


def test_non_multiple_translation_binned_by_hand() -> None:
    # One 1x1 window at token (2, 3), p = 4: pixels x in [12, 16) + 5 -> 17, 18, 19 (token 4), 20 (token 5);
    # y in [8, 12) + 1 -> 9, 10, 11 (token 2), 12 (token 3). Counts: 3*3 at (2, 4), 3*1, 1*3, 1*1 around it.
    p, grid = 4, (6, 8)
    first = from_boxes(torch.tensor([[[2, 3, 1, 1]]]), grid)
    flow, valid = translation(1, grid, p, 5.0, 1.0)
    expected = torch.zeros(1, *grid)
    expected[0, 2:4, 4:6] = torch.tensor([[9.0, 3.0], [3.0, 1.0]])
    assert_close(bin_flow_end_points(first, flow, valid, p), expected)
    # Neither rounding (5 / 4 -> 1, 1 / 4 -> 0) nor the flow of the centre pixel alone decides: counts do.
    assert sample_flow_guided_windows(first, flow, valid, p, [(1, 1)], 0.0).boxes.tolist() == [[[2, 4, 1, 1]]]
    assert sample_flow_guided_windows(first, flow, valid, p, [(2, 2)], 0.0).boxes.tolist() == [[[2, 4, 2, 2]]]
    two = sample_flow_guided_windows(first, flow, valid, p, [(1, 1), (1, 2)], 0.0)
    assert two.boxes.tolist() == [[[3, 4, 1, 1], [2, 4, 1, 2]]]  # 1x2 first (larger), then the best free cell


def test_non_multiple_translation_covers_the_token_with_most_end_points() -> None:
    gen = torch.Generator().manual_seed(3)
    p, grid, B = 3, (7, 9), 6
    first = sample_windows(grid, 2, [(2, 2), (1, 1)], B, gen)
    for u, v in [(4.0, -2.0), (-1.5, 2.5), (7.25, 0.5)]:
        flow, valid = translation(B, grid, p, u, v)
        counts = reference_counts(first, flow, valid, p)
        second = sample_flow_guided_windows(first, flow, valid, p, [(1, 1)], 0.0)
        assert_close(window_sum(counts, second.boxes[:, 0]), counts.flatten(1).max(1).values)  # ties allowed
        # With a frame-2 window larger than the motion's spread, nothing of one moved token is lost.
        one = from_boxes(first.boxes[:, 1:], grid)
        second = sample_flow_guided_windows(one, flow, valid, p, [(3, 4)], 0.0)
        moved = reference_counts(one, flow, valid, p)
        assert_close(window_sum(moved, second.boxes[:, 0]), moved.flatten(1).sum(1))


@FEW
@given(st.integers(0, 2**16), st.integers(1, 3))
def test_binning_matches_pixel_by_pixel_reference(seed, p) -> None:
    # Half-pixel flow puts many end points exactly on token edges; some flow is NaN / inf or invalid.
    gen = torch.Generator().manual_seed(seed)
    grid, B = (4, 5), 2
    first = sample_windows(grid, 2, [(2, 2), (1, 3)], B, gen, extra_tokens=2)
    flow = (torch.randn(B, 2, grid[0] * p, grid[1] * p, generator=gen) * 2 * p).round() / 2
    flow[torch.rand(flow.shape, generator=gen) < 0.05] = float("nan")
    flow[torch.rand(flow.shape, generator=gen) < 0.05] = float("inf")
    valid = torch.rand(B, grid[0] * p, grid[1] * p, generator=gen) > 0.2
    assert torch.equal(bin_flow_end_points(first, flow, valid, p), reference_counts(first, flow, valid, p))


def test_first_window_is_the_best_placement_of_its_size() -> None:
    gen = torch.Generator().manual_seed(4)
    p, grid, B = 2, (8, 10), 16
    first = sample_windows(grid, 2, (3, 3), B, gen)
    flow = torch.randn(B, 2, grid[0] * p, grid[1] * p, generator=gen) * 3 * p
    valid = torch.ones(B, grid[0] * p, grid[1] * p, dtype=torch.bool)
    sizes = [(2, 3), (3, 4), (2, 2)]  # the 3x4 window is chosen first, at the largest sum of its size
    second = sample_flow_guided_windows(first, flow, valid, p, sizes, 0.0)
    counts = reference_counts(first, flow, valid, p)
    assert_close(window_sum(counts, second.boxes[:, 1]), box_sums(counts, 3, 4).flatten(1).max(1).values)


# --- (c) validity -----------------------------------------------------------------------------------------


@st.composite
def guided_cases(draw):
    gh, gw = draw(st.integers(3, 12)), draw(st.integers(3, 12))
    if draw(st.booleans()):  # equal windows, up to the most that fit: greedy dead ends are frequent
        h, w = draw(st.integers(1, gh)), draw(st.integers(1, gw))
        sizes = [(h, w)] * draw(st.integers(1, (gh // h) * (gw // w)))
    else:  # mixed sizes, each at most a third of the grid per axis, so that the second always fits
        sizes = [(draw(st.integers(1, gh // 3)), draw(st.integers(1, gw // 3))) for _ in range(2)]
    s = draw(st.sampled_from([0.0, 0.3, 1.0]))
    return (gh, gw), sizes, draw(st.integers(1, 3)), s, draw(st.integers(0, 2**16))


@FEW
@given(guided_cases())
def test_property_windows_inside_grid_and_disjoint(case) -> None:
    grid, sizes, p, s, seed = case
    gen = torch.Generator().manual_seed(seed)
    B = 6
    first = sample_windows(grid, 1, (max(1, grid[0] // 2), max(1, grid[1] // 2)), B, gen)
    flow = torch.randn(B, 2, grid[0] * p, grid[1] * p, generator=gen) * p * grid[1] / 3
    valid = torch.rand(B, grid[0] * p, grid[1] * p, generator=gen) > 0.3
    second = sample_flow_guided_windows(first, flow, valid, p, sizes, s, gen)
    assert_valid(second, sizes, B)
    assert second.num_extra == 0


def test_greedy_dead_end_redraws_the_row() -> None:
    # 2x4 grid, frame-2 windows 2x2: the flow moves row 0's window to the centre, where the greedy choice
    # leaves no room for a second window; the only packing (columns 0-1 and 2-3) is drawn instead.
    # Row 1 (no motion) has no dead end and keeps its greedy choice.
    p, grid = 2, (2, 4)
    first = from_boxes(torch.tensor([[[0, 0, 2, 2]], [[0, 2, 2, 2]]]), grid)
    flow, valid = translation(2, grid, p, 0.0, 0.0)
    flow[0, 0] = p  # one token to the right
    second = sample_flow_guided_windows(first, flow, valid, p, [(2, 2), (2, 2)], 0.0, torch.Generator())
    assert_valid(second, [(2, 2)] * 2, 2)
    assert (occupancy(second) == 1).all()
    assert second.boxes[1].tolist() == [[0, 2, 2, 2], [0, 0, 2, 2]]


# --- (d) invalid flow and end points outside the image ----------------------------------------------------


def test_invalid_flow_is_ignored() -> None:
    gen = torch.Generator().manual_seed(5)
    p, grid, B = 2, (6, 8), 8
    first = sample_windows(grid, 2, (2, 3), B, gen)
    flow, valid = translation(B, grid, p, 2.0 * p, 0.0)
    none = torch.zeros_like(valid)
    assert (bin_flow_end_points(first, flow, none, p) == 0).all()
    for s in (0.0, 0.3):
        second = sample_flow_guided_windows(first, flow, none, p, [(2, 2)] * 3, s, gen)
        assert_valid(second, [(2, 2)] * 3, B)
    # No guidance: the windows are random, they change with the generator.
    a = sample_flow_guided_windows(first, flow, none, p, [(2, 2)] * 3, 0.0, torch.Generator().manual_seed(1))
    b = sample_flow_guided_windows(first, flow, none, p, [(2, 2)] * 3, 0.0, torch.Generator().manual_seed(2))
    assert not torch.equal(a.boxes, b.boxes)
    # Invalid pixels do not count, even where their flow points somewhere sensible.
    half = valid.clone()
    half[:, :, ::2] = False
    assert_close(bin_flow_end_points(first, flow, half, p), bin_flow_end_points(first, flow, valid, p) / 2)
    assert_close(bin_flow_end_points(first, flow, half.to(torch.uint8), p), bin_flow_end_points(first, flow, half, p))


def test_end_points_outside_the_image_are_ignored() -> None:
    p, grid = 4, (3, 5)
    first = from_boxes(torch.tensor([[[0, 4, 1, 1]]]), grid)  # top-right token
    flow, valid = translation(1, grid, p, p / 2, -1.0)  # half the columns leave on the right, a row on top
    counts = bin_flow_end_points(first, flow, valid, p)
    assert counts.sum() == 2 * 3 and counts[0, 0, 4] == 2 * 3
    gone, _ = translation(1, grid, p, 5.0 * p, 0.0)  # everything leaves: no guidance, still valid windows
    assert (bin_flow_end_points(first, gone, valid, p) == 0).all()
    second = sample_flow_guided_windows(first, gone, valid, p, [(2, 2), (1, 2)], 0.0, torch.Generator())
    assert_valid(second, [(2, 2), (1, 2)], 1)


def test_non_finite_flow_is_ignored() -> None:
    p, grid = 2, (4, 4)
    first = from_boxes(torch.tensor([[[1, 1, 2, 2]]]), grid)
    flow, valid = translation(1, grid, p, 0.0, 0.0)
    flow[0, 0, 2, 2], flow[0, 1, 3, 3], flow[0, 0, 4, 4] = float("nan"), float("inf"), -float("inf")
    counts = bin_flow_end_points(first, flow, valid, p)
    assert counts.sum() == 16 - 3 and counts[0, 1, 1] == 4 - 2 and counts[0, 2, 2] == 4 - 1


# --- (e) stochasticity ------------------------------------------------------------------------------------


def noisy_case(B: int = 16):
    gen = torch.Generator().manual_seed(6)
    p, grid = 2, (10, 12)
    first = sample_windows(grid, 2, (4, 4), B, gen)
    flow = torch.randn(B, 2, grid[0] * p, grid[1] * p, generator=gen) * 3 * p
    return first, flow, torch.ones(B, grid[0] * p, grid[1] * p, dtype=torch.bool), p


def test_stochasticity_changes_choices_across_seeds_zero_is_deterministic() -> None:
    first, flow, valid, p = noisy_case()
    sizes = [(3, 3)] * 4

    def draw(s: float, seed: int) -> torch.Tensor:
        return sample_flow_guided_windows(first, flow, valid, p, sizes, s, torch.Generator().manual_seed(seed)).boxes

    assert torch.equal(draw(0.3, 1), draw(0.3, 1))
    assert not torch.equal(draw(0.3, 1), draw(0.3, 2))
    assert torch.equal(draw(0.0, 1), draw(0.0, 2))
    assert torch.equal(draw(0.0, 1), sample_flow_guided_windows(first, flow, valid, p, sizes, 0.0).boxes)


def test_noise_keeps_most_of_the_guidance() -> None:
    # Whole-token translation: at 0.3 (the paper's best) most moved tokens stay covered; a large noise
    # covers fewer of them, but still more than independent random windows.
    gen = torch.Generator().manual_seed(7)
    (gh, gw), p, B, n, size = (12, 16), 2, 64, 2, (4, 4)
    inner = sample_windows((gh - 1, gw - 2), n, size, B, gen)
    first = from_boxes(inner.boxes, (gh, gw))
    moved = inner.boxes.clone()
    moved[..., 0] += 1
    moved[..., 1] += 2
    target = occupancy(from_boxes(moved, (gh, gw))) > 0
    flow, valid = translation(B, (gh, gw), p, 2.0 * p, 1.0 * p)

    def hit(w: Windows) -> float:
        return float(((occupancy(w) > 0) & target).sum() / target.sum())

    hits = {s: hit(sample_flow_guided_windows(first, flow, valid, p, [size] * n, s, gen)) for s in (0.0, 0.3, 3.0)}
    random = hit(sample_windows((gh, gw), n, size, B, gen))
    assert hits[0.0] == 1.0
    assert hits[0.3] > 0.8
    assert random < hits[3.0] < hits[0.3]


# --- (f) errors -------------------------------------------------------------------------------------------


def test_bad_inputs_raise_with_a_useful_message() -> None:
    p, grid, B = 2, (8, 12), 2
    first = sample_windows(grid, 2, (3, 3), B, torch.Generator().manual_seed(8))
    flow, valid = translation(B, grid, p, 1.0, 1.0)
    call = lambda **kw: sample_flow_guided_windows(  # noqa: E731
        **{"first": first, "flow": flow, "valid": valid, "patch_size": p, "sizes": [(3, 3)] * 2, **kw}
    )
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\).*got shape \(2, 3, 16, 24\)"):
        call(flow=torch.zeros(B, 3, 16, 24))
    with pytest.raises(ValueError, match=r"valid must be \(B, H, W\) = \(2, 16, 24\) like the flow, got \(2, 16, 23\)"):
        call(valid=valid[..., :-1])
    with pytest.raises(ValueError, match="flow has 1 rows but the first frame's windows have 2"):
        call(flow=flow[:1], valid=valid[:1])
    with pytest.raises(ValueError, match=r"patch 4 makes a 4x6 token grid.*8x12 grid: expected 32x48 pixels"):
        call(patch_size=4)
    with pytest.raises(ValueError, match=r"expected 16x24 pixels"):
        call(flow=flow[..., :-1], valid=valid[..., :-1])
    with pytest.raises(ValueError, match="floating-point"):
        call(flow=flow.long())
    with pytest.raises(ValueError, match="patch_size must be >= 1"):
        call(patch_size=0)
    with pytest.raises(ValueError, match=r"largest window: 8x12"):
        call(sizes=[(9, 2)])
    with pytest.raises(ValueError, match=r"5 windows of 4x6 tokens cannot fit .* at most 4 fit"):
        call(sizes=[(4, 6)] * 5)
    with pytest.raises(ValueError, match="stochasticity must be >= 0"):
        call(stochasticity=-0.1)
    for sizes in [(3, 3), [], [(0, 2)], [(2, 2, 2)]]:
        with pytest.raises(ValueError, match=r"sizes must be a non-empty list of positive \(h, w\) pairs"):
            call(sizes=sizes)


# --- (g) frame-2 sizes differ from frame 1 ----------------------------------------------------------------


def test_frame2_sizes_differ_from_frame1_and_keep_the_given_order() -> None:
    gen = torch.Generator().manual_seed(9)
    p, grid, B = 2, (12, 16), 8
    first = sample_windows(grid, 2, (4, 4), B, gen)
    flow = torch.randn(B, 2, grid[0] * p, grid[1] * p, generator=gen) * p
    valid = torch.ones(B, grid[0] * p, grid[1] * p, dtype=torch.bool)
    second = sample_flow_guided_windows(first, flow, valid, p, [(3, 3)] * 4, 0.3, gen)
    assert_valid(second, [(3, 3)] * 4, B)
    sizes = [(2, 3), (3, 3), (3, 2), (1, 1)]
    second = sample_flow_guided_windows(first, flow, valid, p, sizes, 0.3, gen)
    assert_valid(second, sizes, B)
    assert second.sizes == sizes


def test_same_windows_copies_the_first_frame_windows() -> None:
    first = sample_windows((8, 9), 2, [(3, 2), (2, 4)], 4, torch.Generator().manual_seed(10), extra_tokens=3)
    second = same_windows(first)
    assert torch.equal(second.boxes, first.boxes) and second.num_extra == 0
    assert torch.equal(second.index, first.index[:, : first.num_window_tokens])
