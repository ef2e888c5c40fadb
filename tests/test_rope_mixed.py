"""RoPE-Mixed (learned mixed-axis 2D RoPE, Heo et al. 2024): relative positions, layout, windows = full
image, training (gradients, no weight decay, seeded init), configuration and checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import assert_close
from winwin.engine.checkpoint import load_checkpoint, save_checkpoint
from winwin.engine.config import ConfigError, load_config
from winwin.engine.optim import param_groups
from winwin.layers import RoPE2D, RoPEMixed, RotaryTables
from winwin.models import create_model, model_config
from winwin.models.temperature import set_temperature
from winwin.windows import Windows, from_boxes, sample_windows

P = 16


def mixed_model(head: str = "linear", seed: int = 0, **overrides):
    torch.manual_seed(seed)
    settings = dict(embed_dim=32, depth=3, num_heads=2, head_width=8, head_depth=1, dpt_features=8, out_channels=5)
    model = create_model("demo", head=head, pos_embed="rope_mixed", **{**settings, **overrides}).eval()
    with torch.no_grad():  # sharper attention than at init (q, k x 10): the outputs then depend on positions
        for block in model.encoder.blocks:
            block.attn.qkv.weight[: 2 * model.encoder.embed_dim] *= 10
    return model


def image(h: int, w: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def scores(rope: RoPEMixed, q: torch.Tensor, k: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """<R(p_i) q_i, R(p_j) k_j> for every head and pair of tokens: (B, H, N, N)."""
    tables = rope.tables(pos, rope.head_dim)
    return tables.apply(q) @ tables.apply(k).transpose(-1, -2)


def axial_frequencies(num_heads: int, head_dim: int, base: float) -> torch.Tensor:
    """By hand: the first half of the pairs along y, the second along x, RoPE2D's float32 magnitudes."""
    d = head_dim // 2
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (D/4,): RoPE2D's formula
    freqs = torch.zeros(num_heads, d, 2)  # (H, D/2, (f_y, f_x))
    freqs[:, : d // 2, 0] = inv_freq
    freqs[:, d // 2 :, 1] = inv_freq
    return freqs


# --- 1. relative positions --------------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [(3, -5), (17, 40)])
def test_scores_depend_on_relative_positions_only(shift) -> None:
    encoder = mixed_model().encoder
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, 2, 30, 16, generator=gen).unbind(0)  # each (B, H, N, D)
    pos = torch.randint(0, 20, (2, 30, 2), generator=gen)  # (B, N, 2)
    moved = pos + torch.tensor(shift)
    for block in encoder.blocks:  # every block's own frequencies, every head
        rope = block.attn.rope
        base = scores(rope, q, k, pos)
        assert_close(scores(rope, q, k, moved), base, atol=1e-4, rtol=1e-4)
        assert (base - q @ k.transpose(-1, -2)).abs().max() > 1e-1  # the rotation does something
        other = pos.clone()
        other[:, 0] += torch.tensor(shift)  # one token moved alone: its scores change
        assert (scores(rope, q, k, other) - base)[:, :, 0].abs().max() > 1e-2


def test_per_head_tables_rotate_each_head_with_its_own_frequencies() -> None:
    torch.manual_seed(0)
    rope = RoPEMixed(3, 8)
    pos = torch.randint(0, 9, (2, 5, 2))
    x = torch.randn(2, 2, 3, 5, 8)  # q and k stacked: (2, B, H, N, D)
    tables = rope.tables(pos)
    assert tables.cos.shape == (2, 3, 5, 8) and tables.heads == 3 and tables.shape == (2, 5, 8)
    for h in range(3):  # head h alone, with shared (B, 1, N, D) tables cut from the per-head ones
        alone = RotaryTables(tables.cos[:, h : h + 1], tables.sin[:, h : h + 1])
        assert_close(tables.apply(x)[:, :, h], alone.apply(x[:, :, h : h + 1])[:, :, 0], atol=0, rtol=0)
    with pytest.raises(ValueError, match="do not fit"):
        tables.apply(torch.randn(2, 2, 5, 8))  # 2 heads, tables for 3


# --- 2. layout: the axial pattern is RoPE2D ---------------------------------------------------------------


@pytest.mark.parametrize("base", [100.0, 10.0])
@pytest.mark.parametrize("head_dim", [8, 32])
def test_axial_frequencies_give_rope2d_tables(head_dim: int, base: float) -> None:
    rope = RoPEMixed(2, head_dim, base)
    with torch.no_grad():
        rope.freqs.copy_(axial_frequencies(2, head_dim, base))
    pos = torch.randint(0, 60, (3, 40, 2), generator=torch.Generator().manual_seed(1))
    got, want = rope.tables(pos, head_dim), RoPE2D(base).tables(pos, head_dim)
    assert got.cos.shape == (3, 2, 40, head_dim)
    assert_close(got.cos, want.cos.expand_as(got.cos), atol=1e-6, rtol=0)
    assert_close(got.sin, want.sin.expand_as(got.sin), atol=1e-6, rtol=0)
    # the initial formula at head angle 0 is that axial pattern
    rope.reset_parameters(torch.zeros(2))
    assert_close(rope.freqs, axial_frequencies(2, head_dim, base), atol=1e-6, rtol=1e-6)


def test_initial_frequencies_follow_the_formula() -> None:
    torch.manual_seed(3)
    rope = RoPEMixed(4, 16, base=100.0)
    f = rope.freqs.detach()  # (H, D/2, 2)
    magnitude = 100.0 ** (-torch.arange(4) / 4)  # base ** (-4 j / D), j < D/4
    assert_close(f.norm(dim=-1), magnitude.repeat(2).expand(4, 8), atol=1e-6, rtol=1e-6)
    angle = torch.atan2(f[..., 1], f[..., 0])  # (H, D/2): direction of (f_y, f_x)
    assert_close(angle[:, :4], angle[:, :1].expand(4, 4), atol=1e-5, rtol=0)  # one direction per half
    turn = torch.remainder(angle[:, 4] - angle[:, 0], 2 * math.pi)
    assert_close(turn, torch.full((4,), math.pi / 2), atol=1e-5, rtol=0)  # second half across the first


# --- 3. windows = full image ------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["linear", "dpt"])
def test_single_full_window_equals_full_forward(head: str) -> None:
    model = mixed_model(head)
    img = image(64, 96)
    with torch.no_grad():
        full = model(img)
        (windowed,) = model(img, Windows.full((4, 6), 2))
    assert_close(windowed, full, atol=1e-5, rtol=1e-4)


def test_window_equals_forward_of_the_cropped_image() -> None:
    # Only relative positions matter: a window at (2, 3) sees what a full forward of the crop sees.
    model = mixed_model("linear")
    img = image(8 * P, 10 * P)
    windows = from_boxes(torch.tensor([[(2, 3, 4, 5)], [(1, 0, 4, 5)]]), (8, 10))
    with torch.no_grad():
        (out,) = model(img, windows)
        crops = [img[0:1, :, 2 * P : 6 * P, 3 * P : 8 * P], img[1:2, :, 1 * P : 5 * P, 0 : 5 * P]]
        expected = torch.cat([model(c) for c in crops])
    assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_vitdet_window_covering_the_grid_is_the_global_encoder() -> None:
    plain = mixed_model()
    vitdet = mixed_model(seed=1, attention="vitdet", vitdet_window=6, vitdet_global_blocks=1)
    vitdet.load_state_dict(plain.state_dict())
    img = image(64, 96)
    with torch.no_grad():
        assert_close(vitdet.encoder(img)[0], plain.encoder(img)[0], atol=1e-5)
        small = mixed_model(attention="vitdet", vitdet_window=3, vitdet_global_blocks=1)
        assert torch.isfinite(small(img)).all()  # padded local windows


def test_each_block_computes_its_tables_at_its_turn(monkeypatch) -> None:
    model = mixed_model()
    calls: list[str] = []
    tables = RoPEMixed.tables

    def recording(self, pos, head_dim=None):
        calls.append(f"tables {next(i for i, b in enumerate(model.encoder.blocks) if b.attn.rope is self)}")
        return tables(self, pos, head_dim)

    monkeypatch.setattr(RoPEMixed, "tables", recording)
    for i, block in enumerate(model.encoder.blocks):
        block.register_forward_pre_hook(lambda *_, i=i: calls.append(f"block {i}"))
    with torch.no_grad():
        model(image(32, 48, batch=1))
    assert calls == ["block 0", "tables 0", "block 1", "tables 1", "block 2", "tables 2"]


# --- 4. training ------------------------------------------------------------------------------------------


def test_frequencies_get_gradients_and_no_weight_decay() -> None:
    model = mixed_model("convnext").train()
    windows = sample_windows((6, 8), 2, [(3, 3), (2, 4)], 2, torch.Generator().manual_seed(1), extra_tokens=3)
    sum(o.square().mean() for o in model(image(6 * P, 8 * P), windows)).backward()
    freqs = [block.attn.rope.freqs for block in model.encoder.blocks]
    assert len({id(f) for f in freqs}) == 3  # one parameter per block
    for f in freqs:
        assert f.grad is not None and torch.isfinite(f.grad).all() and f.grad.abs().max() > 0
    groups = {id(p): g for g in param_groups(model, weight_decay=0.05, layer_decay=0.75) for p in g["params"]}
    assert all(groups[id(f)]["weight_decay"] == 0.0 for f in freqs)
    assert groups[id(model.encoder.blocks[0].attn.qkv.weight)]["weight_decay"] == 0.05
    assert groups[id(freqs[0])]["lr_scale"] == groups[id(model.encoder.blocks[0].attn.qkv.weight)]["lr_scale"]


def test_seeded_builds_are_identical_and_heads_get_different_angles() -> None:
    a, b, other = mixed_model(seed=5).state_dict(), mixed_model(seed=5).state_dict(), mixed_model(seed=6).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    key = "encoder.blocks.0.attn.rope.freqs"
    assert not torch.equal(a[key], other[key])
    model = mixed_model(seed=5, num_heads=4, embed_dim=64)
    first = torch.stack([b.attn.rope.freqs[:, 0] for b in model.encoder.blocks])  # (blocks, H, 2): pair 0
    angles = torch.atan2(first[..., 1], first[..., 0])  # (blocks, H): direction of (f_y, f_x)
    flat = angles.flatten().sort().values  # (blocks * heads,): each head of each block its own
    assert (flat.diff() > 1e-3).all()


def test_temperature_still_scales_the_logits() -> None:
    # RoPE is linear in q, so temperature t is the same as q's projection times t.
    model, scaled = mixed_model(), mixed_model()
    set_temperature(model, 0.6)
    assert len(model.attention_layers()) == 3
    with torch.no_grad():
        for block in scaled.encoder.blocks:
            block.attn.qkv.weight[:32] *= 0.6
            block.attn.qkv.bias[:32] *= 0.6
        img = image(32, 48)
        assert (model(img) - mixed_model()(img)).abs().max() > 1e-4
        assert_close(model(img), scaled(img), atol=1e-5, rtol=1e-4)


def test_checkpoint_round_trip(tmp_path) -> None:
    model = mixed_model("dpt")
    with torch.no_grad():
        for block in model.encoder.blocks:
            block.attn.rope.freqs.mul_(1.5).add_(0.01)  # as if trained: not what a fresh build draws
    save_checkpoint(tmp_path / "m", model, step=3)
    torch.manual_seed(123)
    loaded, info = load_checkpoint(tmp_path / "m")
    assert info["model"]["pos_embed"] == "rope_mixed" and loaded.config == model.config
    for mine, theirs in zip(model.encoder.blocks, loaded.encoder.blocks):
        assert torch.equal(mine.attn.rope.freqs, theirs.attn.rope.freqs)
    img = image(48, 64, batch=1)
    with torch.no_grad():
        assert torch.equal(model(img), loaded.eval()(img))


# --- 5. configuration -------------------------------------------------------------------------------------


def test_monocular_configs_accept_rope_mixed() -> None:
    for task in ("segmentation", "depth"):
        cfg = load_config(None, [f"task.name={task}", "model.pos_embed=rope_mixed"])
        assert cfg.model.pos_embed == "rope_mixed" and not cfg.model.binocular
    vitdet = load_config(None, ["model.pos_embed=rope_mixed", "model.attention=vitdet", "windows.mode=full"])
    assert vitdet.model.attention == "vitdet"


def test_binocular_and_bad_settings_are_rejected() -> None:
    with pytest.raises(ConfigError, match="rope_mixed is for monocular models only"):
        load_config(None, ["task.name=flow", "model.pos_embed=rope_mixed"])
    with pytest.raises(ValueError, match="rope_mixed is for monocular models only"):
        create_model("demo", binocular=True, pos_embed="rope_mixed", head="linear", out_channels=3)
    with pytest.raises(ValueError, match="model.pos_embed must be one of"):
        model_config("demo", pos_embed="rope-mixed")
    with pytest.raises(ValueError, match="divisible by 4, got 6"):
        model_config("demo", embed_dim=24, num_heads=4, pos_embed="rope_mixed")
