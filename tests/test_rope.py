"""RoPE2D: relative property, CroCo parameterisation, identity at zero, norm preservation, errors."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import assert_close
from winwin.layers import RoPE2D


def reference_rope(x: torch.Tensor, pos: torch.Tensor, base: float = 100.0) -> torch.Tensor:
    """Straightforward float64 rewrite of CroCo's 2D RoPE, one rotated pair at a time.

    x: (B, heads, N, D); pos: (B, N, 2) integer (y, x). The first D/2 channels turn with y, the last D/2
    with x. Inside a half of size d, channel j pairs with channel j + d/2 (rotate-half, not interleaved)
    and turns by the angle pos * base^(-2j/d).
    """
    x = x.to(torch.float64)
    B, H, N, D = x.shape
    d = D // 2
    out = torch.empty_like(x)
    for axis, offset in ((0, 0), (1, d)):  # y half, then x half
        p = pos[..., axis].to(torch.float64)  # (B, N)
        for j in range(d // 2):
            angle = p * base ** (-2.0 * j / d)  # (B, N)
            cos, sin = angle.cos()[:, None], angle.sin()[:, None]  # (B, 1, N)
            a, b = x[..., offset + j], x[..., offset + j + d // 2]  # (B, H, N)
            out[..., offset + j] = a * cos - b * sin
            out[..., offset + j + d // 2] = b * cos + a * sin
    return out


def place(vec: torch.Tensor, yx: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """One (D,) vector at one position -> x (1, 1, 1, D), pos (1, 1, 2)."""
    return vec.view(1, 1, 1, -1), torch.tensor([[list(yx)]])


def rotated_dot(rope: RoPE2D, q: torch.Tensor, k: torch.Tensor, a: tuple[int, int], b: tuple[int, int]) -> float:
    qr = rope(*place(q, a))
    kr = rope(*place(k, b))
    return float((qr * kr).sum())


@pytest.mark.parametrize("head_dim", [8, 16, 64])
def test_dot_product_depends_only_on_position_difference(head_dim: int) -> None:
    gen = torch.Generator().manual_seed(0)
    rope = RoPE2D()
    for _ in range(5):
        q = torch.randn(head_dim, generator=gen)
        k = torch.randn(head_dim, generator=gen)
        a, b = (3, 7), (1, 12)  # difference (2, -5)
        ref = rotated_dot(rope, q, k, a, b)
        for shift in [(0, 0), (1, 0), (0, 9), (40, 3), (500, 500), (123, 500), (500, 17)]:
            a2 = (a[0] + shift[0], a[1] + shift[1])
            b2 = (b[0] + shift[0], b[1] + shift[1])
            got = rotated_dot(rope, q, k, a2, b2)
            assert got == pytest.approx(ref, abs=1e-4 * float(q.norm() * k.norm())), (shift, got, ref)


def test_dot_product_changes_with_position_difference() -> None:
    # Control for the test above: a different offset gives a different score, so the property is not vacuous.
    gen = torch.Generator().manual_seed(1)
    rope = RoPE2D()
    q, k = torch.randn(16, generator=gen), torch.randn(16, generator=gen)
    same = rotated_dot(rope, q, k, (0, 0), (0, 0))
    assert abs(rotated_dot(rope, q, k, (0, 0), (3, 0)) - same) > 1e-2
    assert abs(rotated_dot(rope, q, k, (0, 0), (0, 3)) - same) > 1e-2


def test_y_and_x_rotate_separate_halves() -> None:
    rope = RoPE2D()
    x = torch.randn(1, 1, 1, 16)
    moved_y = rope(x, torch.tensor([[[5, 0]]]))
    moved_x = rope(x, torch.tensor([[[0, 5]]]))
    assert torch.equal(moved_y[..., 8:], x[..., 8:])  # y leaves the x half alone
    assert not torch.allclose(moved_y[..., :8], x[..., :8])
    assert torch.equal(moved_x[..., :8], x[..., :8])  # x leaves the y half alone
    assert not torch.allclose(moved_x[..., 8:], x[..., 8:])


@pytest.mark.parametrize("base", [None, 100.0, 10000.0])
@pytest.mark.parametrize("head_dim", [4, 8, 32])
def test_matches_reference_croco_parameterisation(base: float | None, head_dim: int) -> None:
    gen = torch.Generator().manual_seed(2)
    rope = RoPE2D() if base is None else RoPE2D(base)
    x = torch.randn(2, 3, 7, head_dim, generator=gen)
    pos = torch.randint(0, 60, (2, 7, 2), generator=gen)
    expected = reference_rope(x, pos, 100.0 if base is None else base)
    assert_close(rope(x, pos).double(), expected, atol=1e-5, rtol=1e-5)


def test_default_base_is_100() -> None:
    assert RoPE2D().base == 100.0
    # Behavioural check: base 100 and base 10000 differ on the second frequency.
    x = torch.randn(1, 1, 1, 16)
    pos = torch.tensor([[[3, 4]]])
    assert_close(RoPE2D()(x, pos), RoPE2D(100.0)(x, pos))
    assert not torch.allclose(RoPE2D()(x, pos), RoPE2D(10000.0)(x, pos))


def test_hand_computed_rotation() -> None:
    # D = 4: each half has one pair, turned by the raw position (inverse frequency base^0 = 1).
    x = torch.tensor([[[[1.0, 0.0, 0.0, 1.0]]]])
    out = RoPE2D()(x, torch.tensor([[[1, 2]]]))
    c1, s1, c2, s2 = math.cos(1), math.sin(1), math.cos(2), math.sin(2)
    expected = torch.tensor([[[[c1, s1, -s2, c2]]]])
    assert_close(out, expected)


def test_zero_position_is_identity() -> None:
    x = torch.randn(2, 4, 9, 32)
    pos = torch.zeros(2, 9, 2, dtype=torch.long)
    assert_close(RoPE2D()(x, pos), x, atol=0, rtol=0)


def test_preserves_norm_of_every_token() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 11, 24, generator=gen)
    pos = torch.randint(0, 800, (2, 11, 2), generator=gen)
    out = RoPE2D()(x, pos)
    assert_close(out.norm(dim=-1), x.norm(dim=-1), atol=1e-4, rtol=1e-5)


def test_keeps_dtype_and_shape() -> None:
    x = torch.randn(1, 2, 5, 8, dtype=torch.float64)
    out = RoPE2D()(x, torch.randint(0, 9, (1, 5, 2)))
    assert out.shape == x.shape and out.dtype == torch.float64


@pytest.mark.parametrize(
    "x_shape, pos_shape",
    [((2, 5, 8), (2, 5, 2)), ((2, 1, 5, 8), (2, 5)), ((2, 1, 5, 8), (2, 5, 3)), ((1, 2, 1, 5, 8), (2, 5, 2))],
)
def test_rejects_bad_shapes(x_shape: tuple[int, ...], pos_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(B, heads, N, D\)"):
        RoPE2D()(torch.randn(x_shape), torch.zeros(pos_shape, dtype=torch.long))


@pytest.mark.parametrize("head_dim", [2, 6, 10, 18])
def test_rejects_head_dim_not_divisible_by_4(head_dim: int) -> None:
    with pytest.raises(ValueError, match=f"divisible by 4, got {head_dim}"):
        RoPE2D()(torch.randn(1, 1, 3, head_dim), torch.zeros(1, 3, 2, dtype=torch.long))


def test_rejects_mismatched_token_counts() -> None:
    with pytest.raises((ValueError, RuntimeError)):
        RoPE2D()(torch.randn(1, 2, 5, 8), torch.zeros(1, 3, 2, dtype=torch.long))


def test_rejects_single_position_for_many_tokens() -> None:
    with pytest.raises((ValueError, RuntimeError)):
        RoPE2D()(torch.randn(1, 2, 5, 8), torch.ones(1, 1, 2, dtype=torch.long))


@pytest.mark.parametrize("base", [1.0, 0.5, -3.0])
def test_rejects_base_not_above_one(base: float) -> None:
    with pytest.raises(ValueError, match="base"):
        RoPE2D(base)
