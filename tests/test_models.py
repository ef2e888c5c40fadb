"""Dense models: shapes, full window = full forward, RoPE translation invariance, gradients, registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import assert_close
from winwin.models import DenseModel, create_model, list_models, model_config
from winwin.windows import Windows, from_boxes, sample_windows

P = 16  # patch size of every registry model
HEADS = ["linear", "convnext", "dpt"]
POS_EMBEDS = ["rope", "cosine"]
NUM_CLASSES = 5


def tiny_model(head: str = "convnext", pos_embed: str = "rope", seed: int = 0, **overrides) -> DenseModel:
    torch.manual_seed(seed)
    settings = dict(embed_dim=32, depth=4, num_heads=2, head_width=16, head_depth=1, dpt_features=16)
    settings.update(overrides)
    model = create_model("demo", head=head, pos_embed=pos_embed, out_channels=NUM_CLASSES, **settings)
    if head == "convnext":  # layer scale starts at 1e-6: give the ConvNeXt blocks a visible effect
        with torch.no_grad():
            for block in model.head.blocks:
                block.gamma.fill_(0.5)
    return model.eval()


def image(h: int, w: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def boxes(rows: list[list[tuple[int, int, int, int]]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)  # (B, N, 4)


# --- shapes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pos_embed", POS_EMBEDS)
@pytest.mark.parametrize("head", HEADS)
def test_full_forward_shapes(head: str, pos_embed: str) -> None:
    model = tiny_model(head, pos_embed)
    with torch.no_grad():
        out = model(image(64, 96))
        odd = model(image(70, 100))
    assert out.shape == (2, NUM_CLASSES, 64, 96)
    assert odd.shape == (2, NUM_CLASSES, 70, 100)  # padded to 80x112 inside, cropped back
    assert torch.isfinite(out).all() and torch.isfinite(odd).all()


@pytest.mark.parametrize("head", HEADS)
def test_odd_size_equals_zero_padded_forward_cropped(head: str) -> None:
    model = tiny_model(head)
    img = image(70, 100)
    with torch.no_grad():
        odd = model(img)
        padded = model(F.pad(img, (0, 12, 0, 10)))  # 80 x 112: 5 x 7 patches
    assert_close(odd, padded[..., :70, :100], atol=1e-5)


@pytest.mark.parametrize("pos_embed", POS_EMBEDS)
@pytest.mark.parametrize("head", HEADS)
def test_window_outputs_have_window_pixel_sizes(head: str, pos_embed: str) -> None:
    model = tiny_model(head, pos_embed)
    sizes = [(3, 2), (1, 4), (2, 3)]
    windows = sample_windows((6, 8), 3, sizes, 2, torch.Generator().manual_seed(0), extra_tokens=4)
    with torch.no_grad():
        outs = model(image(6 * P, 8 * P), windows)
    assert [tuple(o.shape) for o in outs] == [(2, NUM_CLASSES, h * P, w * P) for h, w in sizes]
    assert all(torch.isfinite(o).all() for o in outs)


def test_windows_from_another_grid_are_rejected() -> None:
    model = tiny_model("linear")
    windows = sample_windows((5, 8), 1, (2, 2), 2)
    with pytest.raises(ValueError, match=r"grid"):
        model(image(6 * P, 8 * P), windows)


# --- windowed forward = full forward ----------------------------------------------------------------------


@pytest.mark.parametrize("pos_embed", POS_EMBEDS)
@pytest.mark.parametrize("head", HEADS)
def test_single_full_window_equals_full_forward(head: str, pos_embed: str) -> None:
    model = tiny_model(head, pos_embed)
    img = image(64, 96)
    with torch.no_grad():
        full = model(img)
        (windowed,) = model(img, Windows.full((4, 6), 2))
    assert_close(windowed, full, atol=1e-5, rtol=1e-4)


def test_rope_window_equals_forward_of_the_cropped_image() -> None:
    # With RoPE only relative positions matter: one window at (2, 3) sees what a full forward of the crop sees.
    model = tiny_model("convnext", "rope")
    img = image(8 * P, 10 * P)
    windows = from_boxes(boxes([[(2, 3, 4, 5)], [(1, 0, 4, 5)]]), (8, 10))
    with torch.no_grad():
        (out,) = model(img, windows)
        crops = [img[0:1, :, 2 * P : 6 * P, 3 * P : 8 * P], img[1:2, :, 1 * P : 5 * P, 0 : 5 * P]]
        expected = torch.cat([model(c) for c in crops])
    assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_windows_attend_to_each_other() -> None:
    # Global attention across the windows of an image (paper Eq. 1): changing the pixels of one window
    # changes the output of the other, but pixels outside every window change nothing.
    model = tiny_model("linear")
    img = image(6 * P, 8 * P, batch=1)
    windows = from_boxes(boxes([[(0, 0, 2, 3), (3, 4, 3, 4)]]), (6, 8))
    other = img.clone()
    other[..., 3 * P :, 4 * P :] += 1.0  # inside window 2 only
    outside = img.clone()
    outside[..., : 2 * P, 5 * P :] += 1.0  # no window covers rows 0-1, columns 5-7
    with torch.no_grad():
        base, moved, untouched = (model(x, windows) for x in (img, other, outside))
    assert (base[0] - moved[0]).abs().max() > 1e-4
    assert_close(untouched[0], base[0], atol=0, rtol=0)
    assert_close(untouched[1], base[1], atol=0, rtol=0)


# --- translation invariance -------------------------------------------------------------------------------


def shifted_pair(seed: int = 0) -> tuple[torch.Tensor, Windows, torch.Tensor, Windows]:
    """The same 4x6-patch content in an 8x10-patch canvas at (0, 0) and at (2, 3) patches, with windows
    that move along; the rest of each canvas is different noise."""
    gen = torch.Generator().manual_seed(seed)
    content = torch.randn(2, 3, 4 * P, 6 * P, generator=gen)
    canvases = []
    for oy, ox in [(0, 0), (2, 3)]:
        canvas = torch.randn(2, 3, 8 * P, 10 * P, generator=gen)
        canvas[..., oy * P : (oy + 4) * P, ox * P : (ox + 6) * P] = content
        canvases.append(canvas)
    rows = [[(0, 0, 2, 3), (2, 3, 2, 2)], [(1, 3, 2, 3), (0, 0, 2, 2)]]  # inside the content, per row
    at_origin = from_boxes(boxes(rows), (8, 10))
    shifted = from_boxes(boxes([[(t + 2, x + 3, h, w) for t, x, h, w in row] for row in rows]), (8, 10))
    return canvases[0], at_origin, canvases[1], shifted


@torch.no_grad()
def run_shifted_pair(model) -> list[tuple]:
    """(encoder features, positions, per-window outputs) for the content at the origin, then shifted."""
    img_a, win_a, img_b, win_b = shifted_pair()
    out = []
    for img, win in ((img_a, win_a), (img_b, win_b)):
        feats, pos, _ = model.encoder(img, win)
        out.append((feats, pos, model(img, win)))
    return out


@pytest.mark.parametrize("head", ["linear", "convnext"])
def test_rope_model_is_translation_invariant(head: str) -> None:
    (feats_a, pos_a, outs_a), (feats_b, pos_b, outs_b) = run_shifted_pair(tiny_model(head, "rope"))
    assert torch.equal(pos_b - pos_a, torch.tensor([2, 3]).expand_as(pos_a))  # the positions did move
    assert_close(feats_b, feats_a, atol=1e-4, rtol=1e-4)
    for a, b in zip(outs_a, outs_b):
        assert_close(b, a, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("head", ["linear", "convnext"])
def test_cosine_model_is_not_translation_invariant(head: str) -> None:
    # Control: the same shift changes an absolute position embedding's outputs.
    (feats_a, _, outs_a), (feats_b, _, outs_b) = run_shifted_pair(tiny_model(head, "cosine"))
    assert (feats_a - feats_b).abs().max() > 1e-2
    assert all((a - b).abs().max() > 1e-3 for a, b in zip(outs_a, outs_b))


# --- gradients --------------------------------------------------------------------------------------------


def window_backward(model: DenseModel) -> None:
    windows = sample_windows((6, 8), 2, [(3, 3), (2, 4)], 2, torch.Generator().manual_seed(1), extra_tokens=3)
    outs = model(image(6 * P, 8 * P), windows)
    sum(o.square().mean() for o in outs).backward()


@pytest.mark.parametrize("pos_embed", POS_EMBEDS)
@pytest.mark.parametrize("head", HEADS)
def test_backward_with_windows_gives_finite_gradients(head: str, pos_embed: str) -> None:
    model = tiny_model(head, pos_embed, drop_path=0.1).train()
    window_backward(model)
    for name, param in model.encoder.named_parameters():
        assert param.grad is not None, f"encoder.{name} got no gradient"
    for name, param in model.named_parameters():
        assert param.grad is None or torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert next(model.head.parameters()).grad is not None


@pytest.mark.parametrize("head", ["linear", "convnext", "dpt"])
def test_every_parameter_gets_a_gradient(head: str) -> None:
    model = tiny_model(head).train()
    window_backward(model)
    missing = [name for name, param in model.named_parameters() if param.grad is None]
    assert not missing, f"parameters without gradient: {missing}"


# --- registry ---------------------------------------------------------------------------------------------


def test_unknown_model_name_lists_known_names() -> None:
    known = "base, demo, dinov3_demo, dinov3_vitb16, dinov3_vitl16, dinov3_vits16, small, tiny"
    with pytest.raises(ValueError, match=f"unknown model .huge.*{known}"):
        create_model("huge")


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"unknown model settings \['embed_dims'\]"):
        create_model("demo", embed_dims=64)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(embed_dim=30, num_heads=4), "must be divisible by model.num_heads"),
        (dict(embed_dim=24, num_heads=4), "divisible by 4, got 6"),  # RoPE head dim 6
        (dict(head="unet"), "model.head must be one of"),
        (dict(head="dpt", dpt_layers=[0, 1, 2, 4]), r"model.dpt_layers must be 4 block indices in \[0, 4\)"),
        (dict(head="dpt", dpt_layers=[0, 1, 3]), "model.dpt_layers must be 4 block indices"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(depth=0), "must be positive"),
    ],
)
def test_invalid_config_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_config("demo", **overrides)


def test_head_dim_not_divisible_by_4_is_fine_without_rope() -> None:
    model_config("demo", embed_dim=24, num_heads=4, pos_embed="cosine").validate()


def test_dpt_head_on_a_shallow_encoder_repeats_layers() -> None:
    assert model_config("demo", depth=12).resolved_dpt_layers() == [2, 5, 8, 11]
    assert model_config("demo", depth=4).resolved_dpt_layers() == [0, 1, 2, 3]
    for depth in (1, 2, 3, 5, 7):
        layers = model_config("demo", depth=depth).resolved_dpt_layers()
        assert len(layers) == 4 and layers == sorted(layers) and layers[0] >= 0 and layers[-1] == depth - 1
    model = tiny_model("dpt", depth=2, dpt_layers=[0, 0, 1, -1])
    with torch.no_grad():
        out = model(image(64, 96, batch=1))
    assert out.shape == (1, NUM_CLASSES, 64, 96) and torch.isfinite(out).all()


def test_encoder_returns_requested_layers_in_order() -> None:
    # Block outputs recomputed block by block; the last block's output is taken after the final norm.
    encoder = tiny_model("linear", depth=3).encoder
    img = image(32, 48)
    with torch.no_grad():
        final, pos, taken = encoder(img, None, return_layers=[-1, 0, 0, 1])
        x, _ = encoder.patch_embed(img)
        manual = []
        for block in encoder.blocks:
            x = block(x, pos)
            manual.append(x)
    assert len(taken) == 4
    assert_close(final, encoder.norm(manual[2]), atol=1e-6)
    assert_close(taken[0], final, atol=0, rtol=0)
    assert_close(taken[1], manual[0], atol=1e-6)
    assert_close(taken[2], manual[0], atol=1e-6)
    assert_close(taken[3], manual[1], atol=1e-6)


def vit_encoder_params(
    embed_dim: int, depth: int, mlp_ratio: float = 4.0, patch: int = 16, prefix: int = 0, layer_scale: bool = False
) -> int:
    """Parameter count of a ViT encoder without learned position embedding; ``prefix`` class / storage tokens."""
    d, hidden = embed_dim, int(embed_dim * mlp_ratio)
    block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d)
    block += 2 * d * layer_scale  # ls1.gamma, ls2.gamma
    return 3 * patch * patch * d + d + prefix * d + depth * block + 2 * d


@pytest.mark.parametrize("name", list_models())
def test_registry_models(name: str) -> None:
    cfg = model_config(name)
    assert cfg.arch == name and cfg.patch_size == P
    expected_widths = {"demo": (128, 4, 4), "tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12),
                       "dinov3_demo": (64, 2, 4), "dinov3_vits16": (384, 12, 6), "dinov3_vitb16": (768, 12, 12),
                       "dinov3_vitl16": (1024, 24, 16)}  # fmt: skip
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads) == expected_widths[name]
    if name.startswith("dinov3"):  # class token + 4 storage tokens, layer scale; DINOv3's head dim 64 (demo 16)
        model = create_model(name, depth=2, head="linear")
        count = vit_encoder_params(cfg.embed_dim, 2, prefix=5, layer_scale=True)
        assert sum(p.numel() for p in model.encoder.parameters()) == count
        assert cfg.class_token and cfg.storage_tokens == 4 and not cfg.key_bias and cfg.norm_eps == 1e-5
        return
    if name in ("small", "base"):
        # Too slow to build at full depth on a CPU test run: build two blocks with the real width.
        model = create_model(name, depth=2, head="linear")
        assert sum(p.numel() for p in model.encoder.parameters()) == vit_encoder_params(cfg.embed_dim, 2)
        return
    torch.manual_seed(0)
    model = create_model(name).eval()
    assert sum(p.numel() for p in model.encoder.parameters()) == vit_encoder_params(cfg.embed_dim, cfg.depth)
    with torch.no_grad():
        out = model(image(32, 48, batch=1))
        (win,) = model(image(32, 48, batch=1), sample_windows((2, 3), 1, (1, 2), 1))
    assert out.shape == (1, cfg.out_channels, 32, 48) and torch.isfinite(out).all()
    assert win.shape == (1, cfg.out_channels, 16, 32) and torch.isfinite(win).all()


def test_dpt_upsampling_of_a_window_agrees_with_the_full_map() -> None:
    """The deep DPT branch halves the map; bringing it back up must not stretch a window's map differently
    from the full image's: 2x-and-crop for odd sizes, so the window's values equal the full map's values."""
    from winwin.models.heads.dpt import upsample_to

    full = torch.randn(1, 4, 6, 10)  # a deep map of a 12x20 token grid (stride 2)
    window = full[..., :3, :4]  # a 5x7-token window at the origin, padded to 6x8 before the stride-2 step
    assert torch.equal(upsample_to(full, (11, 19)), upsample_to(full, (12, 20))[..., :11, :19])
    up_full, up_window = upsample_to(full, (12, 20)), upsample_to(window, (5, 7))
    assert up_window.shape[-2:] == (5, 7)
    assert torch.allclose(up_window[..., :4, :6], up_full[..., :4, :6])  # away from the window's far border
    assert upsample_to(full, (7, 7)).shape[-2:] == (7, 7)  # any other size: a plain resize


@pytest.mark.parametrize("padding", ["zeros", "replicate"])
def test_head_padding_setting_reaches_the_convolutions(padding) -> None:
    for head in ("convnext", "dpt"):
        model = tiny_model(head, head_padding=padding)
        modes = {m.padding_mode for m in model.head.modules() if isinstance(m, torch.nn.Conv2d) and m.padding != (0, 0)}
        assert modes == {padding}, (head, modes)
    with pytest.raises(ValueError, match="head_padding must be zeros or replicate"):
        model_config("demo", head_padding="reflect")
