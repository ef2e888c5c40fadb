"""Attention: the softmax temperature multiplies the 1/sqrt(D) logit scale, shared or per head."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import assert_close
from winwin.layers import Attention, CrossAttention, RoPE2D
from winwin.models import create_model
from winwin.models.temperature import attention_layers, enable_head_temperatures, set_temperature


def manual_attention(attn: Attention, x: torch.Tensor, pos: torch.Tensor, head_scale: torch.Tensor) -> torch.Tensor:
    """softmax(head_scale[h] * q.k / sqrt(D)) v, written out; x: (B, N, C), head_scale: (heads,)."""
    B, N, C = x.shape
    h, D = attn.num_heads, attn.head_dim
    q, k, v = attn.qkv(x).reshape(B, N, 3, h, D).permute(2, 0, 3, 1, 4)  # each (B, h, N, D)
    if attn.rope is not None:
        q, k = attn.rope(q, pos), attn.rope(k, pos)
    logits = q @ k.transpose(-2, -1) / math.sqrt(D)  # (B, h, N, N)
    logits = logits * head_scale[None, :, None, None]
    out = logits.softmax(dim=-1) @ v  # (B, h, N, D)
    return attn.proj(out.transpose(1, 2).reshape(B, N, C))


def make_inputs(seed: int = 0, B: int = 2, N: int = 10, C: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, C, generator=gen)
    pos = torch.randint(0, 12, (B, N, 2), generator=gen)
    return x, pos


def make_attention(rope: bool = True, seed: int = 0) -> Attention:
    torch.manual_seed(seed)
    attn = Attention(32, num_heads=2, rope=RoPE2D() if rope else None).eval()
    with torch.no_grad():  # larger weights than the default init, so the temperature has a visible effect
        attn.qkv.weight.mul_(3.0)
    return attn


@pytest.mark.parametrize("rope", [True, False])
@pytest.mark.parametrize("temperature", [1.0, 0.25, 0.7, 2.5])
def test_global_temperature_multiplies_logit_scale(rope: bool, temperature: float) -> None:
    attn = make_attention(rope)
    attn.temperature = temperature
    x, pos = make_inputs()
    with torch.no_grad():
        expected = manual_attention(attn, x, pos, torch.full((2,), temperature))
        got = attn(x, pos)
    assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_temperature_changes_the_output() -> None:
    # Guards the test above against an attention that ignores the temperature on near-uniform softmaxes.
    attn = make_attention()
    x, pos = make_inputs()
    with torch.no_grad():
        default = attn(x, pos)
        attn.temperature = 3.0
        hot = attn(x, pos)
    assert (hot - default).abs().max() > 1e-2


def test_per_head_temperature_replaces_the_shared_one() -> None:
    attn = make_attention()
    attn.temperature = 1.5  # ignored once per-head temperatures exist
    param = attn.enable_head_temperature()
    per_head = torch.tensor([0.4, 2.2])
    with torch.no_grad():
        param.copy_(per_head.log())
    x, pos = make_inputs(seed=1)
    with torch.no_grad():
        expected = manual_attention(attn, x, pos, per_head)
        got = attn(x, pos)
        # Heads get different scales: applying either scale to both heads gives another answer.
        wrong = manual_attention(attn, x, pos, torch.full((2,), 0.4))
    assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert (got - wrong).abs().max() > 1e-3
    assert_close(attn.scale_factor(), per_head)
    assert attn.disable_head_temperature() is param
    assert attn.scale_factor() == 1.5 and not any(p is param for p in attn.parameters())


def test_head_temperature_init_sets_exp_of_parameter() -> None:
    attn = make_attention()
    param = attn.enable_head_temperature(init=2.0)
    assert isinstance(param, torch.nn.Parameter) and param.shape == (2,)
    assert_close(param.detach().exp(), torch.full((2,), 2.0))
    assert any(p is param for p in attn.parameters())
    attn.temperature = 0.8
    assert_close(attn.enable_head_temperature().detach().exp(), torch.full((2,), 0.8))  # default: the shared value
    with pytest.raises(ValueError, match="must be > 0"):
        attn.enable_head_temperature(init=0.0)


@pytest.mark.parametrize("rope", [True, False])
def test_temperature_one_is_exactly_the_default_scale(rope: bool) -> None:
    # Multiplier 1 must be the untuned model bit for bit: SDPA with its own default scale 1/sqrt(D).
    attn = make_attention(rope)
    x, pos = make_inputs(seed=4)
    with torch.no_grad():
        q, k, v = attn.qkv(x).reshape(2, 10, 3, 2, 16).permute(2, 0, 3, 1, 4)  # each (B, h, N, D)
        if rope:
            q, k = attn.rope(q, pos), attn.rope(k, pos)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)  # (B, h, N, D), default scale
        expected = attn.proj(out.transpose(1, 2).reshape(2, 10, 32))
        attn.temperature = 1.0
        assert torch.equal(attn(x, pos), expected)
        attn.enable_head_temperature(init=1.0)
        assert torch.equal(attn(x, pos), expected)


def test_temperature_one_and_head_init_one_equal_default() -> None:
    attn = make_attention()
    x, pos = make_inputs(seed=2)
    with torch.no_grad():
        default = attn(x, pos)
        attn.temperature = 1.0
        attn.enable_head_temperature(init=1.0)
        calibrated = attn(x, pos)
    assert_close(calibrated, default, atol=1e-6, rtol=1e-5)


def test_head_temperature_receives_gradient() -> None:
    attn = make_attention()
    param = attn.enable_head_temperature()
    x, pos = make_inputs(seed=3)
    attn(x, pos).square().sum().backward()
    assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


def test_dim_not_divisible_by_heads_raises() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        Attention(30, num_heads=4)


def test_model_temperatures_reach_every_attention_layer() -> None:
    model = create_model(
        "demo",
        embed_dim=32,
        depth=2,
        num_heads=2,
        head="linear",
        temperature=1.7,
        head_temperatures=[[0.5, 2.0], [1.0, 3.0]],
    )
    layers = model.attention_layers()
    assert len(layers) == 2
    assert_close(layers[0].scale_factor(), torch.tensor([0.5, 2.0]))
    assert_close(layers[1].scale_factor(), torch.tensor([1.0, 3.0]))
    model.set_temperature(0.5)
    assert all(a.scale_factor() == 0.5 for a in layers)


def manual_cross_attention(attn: CrossAttention, x, pos, mem, mem_pos, head_scale: torch.Tensor) -> torch.Tensor:
    """softmax(head_scale[h] * q.k / sqrt(D)) v with q from x and k, v from mem, written out."""
    B, Nq, C = x.shape
    h, D = attn.num_heads, attn.head_dim
    q = attn.q(x).reshape(B, Nq, h, D).transpose(1, 2)  # (B, h, Nq, D)
    k, v = (t.reshape(B, mem.shape[1], h, D).transpose(1, 2) for t in attn.kv(mem).chunk(2, dim=-1))  # (B, h, Nk, D)
    q, k = attn.rope(q, pos), attn.rope(k, mem_pos)
    logits = q @ k.transpose(-2, -1) / math.sqrt(D) * head_scale[None, :, None, None]  # (B, h, Nq, Nk)
    return attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(B, Nq, C))


@pytest.mark.parametrize("per_head", [False, True])
def test_cross_attention_temperature(per_head: bool) -> None:
    torch.manual_seed(0)
    attn = CrossAttention(32, num_heads=2, rope=RoPE2D()).eval()
    with torch.no_grad():
        attn.kv.weight.mul_(3.0)
        attn.q.weight.mul_(3.0)
    x, pos = make_inputs(seed=5, N=6)
    mem, mem_pos = make_inputs(seed=6, N=11)
    scale = torch.tensor([0.6, 1.7]) if per_head else torch.full((2,), 1.4)
    with torch.no_grad():
        if per_head:
            attn.enable_head_temperature().copy_(scale.log())
        else:
            attn.temperature = 1.4
        got = attn(x, pos, mem, mem_pos)
        expected = manual_cross_attention(attn, x, pos, mem, mem_pos, scale)
        untuned = manual_cross_attention(attn, x, pos, mem, mem_pos, torch.ones(2))
    assert got.shape == (2, 6, 32)
    assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert (got - untuned).abs().max() > 1e-3


def test_model_temperature_reaches_cross_attention_layers() -> None:
    # A decoder with self- and cross-attention (as the binocular flow model will have) is calibrated as a whole.
    model = torch.nn.ModuleDict({"self": Attention(32, 2), "cross": CrossAttention(32, 4)})
    set_temperature(model, 0.8)
    assert [a.scale_factor() for a in attention_layers(model)] == [0.8, 0.8]
    params = enable_head_temperatures(model)
    assert [p.shape for p in params] == [(2,), (4,)]
    assert_close(torch.cat([p.detach().exp() for p in params]), torch.full((6,), 0.8))
