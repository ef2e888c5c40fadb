"""ViTDet-style baseline: local-window blocks plus evenly spaced global blocks, at full resolution."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
import torch

from helpers import TINY, assert_close
from winwin.engine.checkpoint import model_config_from_dict
from winwin.engine.config import ConfigError, load_config
from winwin.layers import (
    Block,
    LocalBlock,
    LocalWindows,
    RoPE2D,
    global_block_indices,
    grid_positions,
    window_partition,
    window_unpartition,
)
from winwin.models import create_model, model_config
from winwin.windows import from_boxes

P = 16


def tiny(attention: str = "global", seed: int = 0, **overrides):
    torch.manual_seed(seed)
    settings = dict(embed_dim=32, depth=4, num_heads=2, head_width=8, head_depth=1, out_channels=3)
    return create_model("demo", attention=attention, **{**settings, **overrides}).eval()


def grid_inputs(grid: tuple[int, int], B: int = 2, C: int = 32, seed: int = 0):
    """Tokens (B, gh*gw, C), their positions (B, gh*gw, 2) and a local block with RoPE."""
    torch.manual_seed(seed)
    block = LocalBlock(C, num_heads=2, rope=RoPE2D()).eval()
    x = torch.randn(B, grid[0] * grid[1], C)
    pos = grid_positions(grid).expand(B, -1, -1)
    return block, x, pos


@pytest.mark.parametrize("hw, window", [((64, 64), 4), ((64, 96), 6), ((48, 80), 9)])
def test_window_covering_the_grid_is_the_global_encoder(hw, window):
    plain = tiny("global")
    vitdet = tiny("vitdet", seed=1, vitdet_window=window, vitdet_global_blocks=1)
    vitdet.load_state_dict(plain.state_dict())
    assert vitdet.encoder.global_blocks() == [3]
    img = torch.randn(2, 3, *hw)
    with torch.no_grad():
        want, got = plain.encoder(img)[0], vitdet.encoder(img)[0]
        assert_close(got, want, atol=1e-6)
        assert_close(vitdet(img), plain(img), atol=1e-5)


def test_partition_round_trips_and_groups_windows():
    grid, w = (5, 7), 3
    x = torch.randn(2, 35, 4)
    win = window_partition(x, grid, w)  # (2 * 2 * 3, 9, 4)
    assert win.shape == (12, 9, 4)
    assert torch.equal(window_unpartition(win, grid, w), x)
    pos = window_partition(grid_positions(grid).expand(2, -1, -1), grid, w)  # (12, 9, 2)
    assert torch.equal(pos[4, 0], torch.tensor([3, 3]))  # image 0, window row 1, column 1 starts at (3, 3)
    with pytest.raises(ValueError, match="5x7 grid"):
        window_partition(x[:, :30], grid, w)


def test_tokens_in_other_windows_do_not_interact():
    grid, w = (6, 8), 3  # 2 x 3 windows; the last column of windows is padded
    block, x, pos = grid_inputs(grid)
    local = LocalWindows(pos, grid, w, block.attn.rope, block.attn.head_dim)
    inside = torch.zeros(grid, dtype=torch.bool)
    inside[3:6, 3:6] = True  # window (1, 1)
    inside = inside.flatten()
    y = x.clone()
    y[:, inside] += torch.randn_like(y[:, inside])
    with torch.no_grad():
        out_x, out_y = block(x, local), block(y, local)
    assert torch.equal(out_x[:, ~inside], out_y[:, ~inside])
    assert not torch.allclose(out_x[:, inside], out_y[:, inside])


def reference_attention(block: Block, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """The block on exactly these tokens (B, n, C), no mask, written out: softmax(q.k / sqrt(D)) v."""
    attn = block.attn
    B, n, C = x.shape
    h = block.norm1(x)
    q, k, v = attn.qkv(h).reshape(B, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)  # (B, h, n, D)
    q, k = attn.rope(q, pos), attn.rope(k, pos)
    weights = (q @ k.transpose(-1, -2) / math.sqrt(attn.head_dim)).softmax(-1)  # (B, h, n, n)
    out = (weights @ v).transpose(1, 2).reshape(B, n, C)  # (B, n, C)
    x = x + attn.proj(out)
    return x + block.mlp(block.norm2(x))


def test_padding_never_reaches_real_tokens():
    grid, w = (5, 7), 3  # padded to 6 x 9: the bottom-right window holds 2 x 1 real tokens
    block, x, pos = grid_inputs(grid)
    local = LocalWindows(pos, grid, w, block.attn.rope, block.attn.head_dim)
    assert local.num_windows == 6 and local.mask.shape == (12, 1, 1, 9)
    with torch.no_grad():
        out = block(x, local)  # (B, 35, C)
        assert out.shape == x.shape and torch.isfinite(out).all()
        for top, left in [(3, 6), (0, 0), (3, 3), (0, 6)]:  # partial corner, full, partial bottom, partial right
            rows, cols = range(top, min(top + w, 5)), range(left, min(left + w, 7))
            idx = torch.tensor([r * 7 + c for r in rows for c in cols])
            want = reference_attention(block, x[:, idx], pos[:, idx])
            assert_close(out[:, idx], want, atol=1e-6)


def test_vitdet_encoder_runs_on_a_padded_grid_and_differs_from_global():
    plain = tiny("global")
    vitdet = tiny("vitdet", vitdet_window=3, vitdet_global_blocks=2)
    vitdet.load_state_dict(plain.state_dict())
    img = torch.randn(1, 3, 5 * P, 7 * P)
    with torch.no_grad():
        got = vitdet(img)
        assert got.shape == (1, 3, 5 * P, 7 * P) and torch.isfinite(got).all()
        assert not torch.allclose(got, plain(img), atol=1e-4)


@pytest.mark.parametrize(
    "depth, n, expected", [(12, 4, [2, 5, 8, 11]), (4, 4, [0, 1, 2, 3]), (4, 1, [3]), (24, 4, [5, 11, 17, 23])]
)
def test_global_blocks_are_evenly_spaced_and_end_the_encoder(depth, n, expected):
    assert global_block_indices(depth, n) == expected
    model = tiny("vitdet", depth=depth, vitdet_global_blocks=n)
    assert model.encoder.global_blocks() == expected
    kinds = [type(b) for b in model.encoder.blocks]
    assert kinds == [Block if i in expected else LocalBlock for i in range(depth)]
    assert tiny("global", depth=depth).encoder.global_blocks() == list(range(depth))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(attention="swin"), "model.attention must be one of"),
        (dict(attention="vitdet", vitdet_window=0), "model.vitdet_window must be >= 1"),
        (dict(attention="vitdet", vitdet_global_blocks=0), r"vitdet_global_blocks must be in \[1, model.depth=4\]"),
        (dict(attention="vitdet", vitdet_global_blocks=5), r"vitdet_global_blocks must be in \[1, model.depth=4\]"),
    ],
)
def test_model_config_rejects_bad_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        model_config("demo", depth=4, **overrides)


def test_window_batch_raises():
    model = tiny("vitdet", vitdet_window=2)
    img = torch.randn(1, 3, 4 * P, 4 * P)
    windows = from_boxes(torch.tensor([[[0, 0, 2, 2]]]), (4, 4))
    with pytest.raises(ValueError, match="full-resolution baseline.*windows.mode=full"):
        model.encoder(img, windows)


def test_experiment_config_needs_full_windows_mode():
    with pytest.raises(ConfigError, match="windows.mode=full"):
        load_config(None, ["model.attention=vitdet"])
    cfg = load_config(None, ["model.attention=vitdet", "windows.mode=full"])
    assert cfg.model.attention == "vitdet" and cfg.model.vitdet_window == 14


def test_old_checkpoint_configs_load_as_global():
    old = {k: v for k, v in asdict(model_config("demo")).items() if not k.startswith(("attention", "vitdet"))}
    cfg = model_config_from_dict(old)
    assert cfg.attention == "global" and cfg.vitdet_window == 14 and cfg.vitdet_global_blocks == 4


def test_train_end_to_end(tmp_path):
    from winwin.engine.checkpoint import load_checkpoint
    from winwin.engine.train import train

    overrides = ["model.attention=vitdet", "model.vitdet_window=2", "model.vitdet_global_blocks=1"]  # depth 2
    cfg = load_config(None, TINY + overrides + ["windows.mode=full", f"out_dir={tmp_path}"])
    run_dir = train(cfg, progress=False)
    model, info = load_checkpoint(next(run_dir.rglob("model.safetensors")).with_suffix(""))
    assert info["model"]["attention"] == "vitdet" and model.encoder.global_blocks() == [1]
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.isfinite(model.eval()(img)).all()
