"""RoPE tables computed once per forward: same numbers as the per-layer formula they replaced."""

from __future__ import annotations

import pytest
import torch

from winwin.layers import Attention, Block, CrossAttention, DecoderBlock, RoPE2D, RotaryTables


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def previous_rope(x: torch.Tensor, pos: torch.Tensor, base: float = 100.0) -> torch.Tensor:
    """RoPE2D.forward before the tables (reference): per half, cos / sin recomputed, chunk + cat."""
    d = x.shape[-1] // 2
    out = []
    for half, p in zip(x.chunk(2, dim=-1), (pos[..., 0], pos[..., 1])):  # y half, x half
        inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (d/2,)
        angles = p.to(torch.float32)[..., None] * inv_freq  # (B, N, d/2)
        angles = torch.cat((angles, angles), dim=-1)[:, None]  # (B, 1, N, d)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        out.append(half * cos + _rotate_half(half) * sin)
    return torch.cat(out, dim=-1)  # (B, heads, N, D)


def inputs(seed: int, head_dim: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 4, 50, head_dim, generator=gen).to(dtype)  # (B, h, N, D)
    pos = torch.randint(0, 20, (3, 50, 2), generator=gen)  # (B, N, 2)
    pos[:, :10] = torch.randint(0, 5000, (3, 10, 2), generator=gen)  # large positions too
    pos[:, 10] = torch.tensor([4095, 100000])
    return x, pos


@pytest.mark.parametrize("base", [100.0, 10000.0])
@pytest.mark.parametrize("head_dim", [4, 16, 64])
def test_tables_match_previous_formula_fp32(head_dim: int, base: float) -> None:
    x, pos = inputs(0, head_dim, torch.float32)
    rope = RoPE2D(base)
    expected = previous_rope(x, pos, base)
    torch.testing.assert_close(rope(x, rope.tables(pos, head_dim)), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(rope(x, pos), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("head_dim", [16, 64])
def test_tables_match_previous_formula_bf16(head_dim: int) -> None:
    x, pos = inputs(1, head_dim, torch.bfloat16)
    rope = RoPE2D()
    got = rope(x, rope.tables(pos, head_dim))
    assert got.dtype == torch.bfloat16
    # Same bf16 operations in the same order: equal up to one bf16 rounding step of |x| <~ 5.
    torch.testing.assert_close(got.float(), previous_rope(x, pos).float(), atol=2e-2, rtol=1e-2)


def test_table_layout_and_signs() -> None:
    tables = RoPE2D().tables(torch.tensor([[[1, 2]]]), 8)  # one token at y=1, x=2; quarters of 2
    angles = torch.tensor([1.0, 0.1, 1.0, 0.1, 2.0, 0.2, 2.0, 0.2])  # base 100, d = 4: inverse freq 1, 0.1
    sign = torch.tensor([-1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0])
    assert tables.cos.shape == (1, 1, 1, 8) and tables.cos.dtype == torch.float32
    torch.testing.assert_close(tables.cos.flatten(), angles.cos())
    torch.testing.assert_close(tables.sin.flatten(), sign * angles.sin())
    assert tables.shape == (1, 1, 8)


def test_cast_happens_once_per_dtype() -> None:
    tables = RoPE2D().tables(torch.randint(0, 9, (2, 5, 2)), 8)
    assert tables.cast(torch.float32)[0] is tables.cos
    first = tables.cast(torch.bfloat16)
    assert first[0].dtype == torch.bfloat16 and tables.cast(torch.bfloat16)[1] is first[1]


def test_stacked_q_and_k_rotate_like_separate_calls() -> None:
    x, pos = inputs(2, 16, torch.float32)
    rope = RoPE2D()
    tables = rope.tables(pos, 16)
    qk = torch.stack((x, x.flip(1)))  # (2, B, h, N, D)
    torch.testing.assert_close(tables.apply(qk), torch.stack((rope(x, pos), rope(x.flip(1), pos))), atol=0, rtol=0)


def test_tables_must_fit_the_tokens() -> None:
    tables = RoPE2D().tables(torch.zeros(1, 5, 2, dtype=torch.long), 8)
    with pytest.raises(ValueError, match="do not fit"):
        RoPE2D()(torch.randn(1, 2, 4, 8), tables)  # 4 tokens, tables for 5
    with pytest.raises(ValueError, match="do not fit"):
        RoPE2D()(torch.randn(1, 2, 5, 16), tables)  # another head size
    with pytest.raises(ValueError, match="divisible by 4"):
        RoPE2D().tables(torch.zeros(1, 5, 2, dtype=torch.long), 6)


def test_layers_accept_positions_or_tables() -> None:
    torch.manual_seed(0)
    rope = RoPE2D()
    x, mem = torch.randn(2, 7, 32), torch.randn(2, 5, 32)
    pos, mem_pos = torch.randint(0, 30, (2, 7, 2)), torch.randint(0, 30, (2, 5, 2))
    t, mem_t = rope.tables(pos, 16), rope.tables(mem_pos, 16)
    assert isinstance(t, RotaryTables)
    attn, cross = Attention(32, 2, rope=rope).eval(), CrossAttention(32, 2, rope=rope).eval()
    block, dec = Block(32, 2, rope=rope).eval(), DecoderBlock(32, 2, rope=rope).eval()
    with torch.no_grad():
        torch.testing.assert_close(attn(x, t), attn(x, pos), atol=0, rtol=0)
        torch.testing.assert_close(cross(x, t, mem, mem_t), cross(x, pos, mem, mem_pos), atol=0, rtol=0)
        torch.testing.assert_close(block(x, t), block(x, pos), atol=0, rtol=0)
        torch.testing.assert_close(dec(x, t, mem, mem_t), dec(x, pos, mem, mem_pos), atol=0, rtol=0)
