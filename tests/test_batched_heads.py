"""Windows of one size go through the head in one call; the ConvNeXt block runs in channels_last memory."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_close
from winwin.models import create_model
from winwin.models.heads import ConvNeXtBlock
from winwin.windows import from_boxes

HEADS = ["linear", "convnext", "dpt"]
# three windows per row, two of them 4x5: adjacent in token order ([A, A, B]) or not ([A, B, A])
ORDERS = {
    "adjacent": [[(0, 0, 4, 5), (5, 0, 4, 5), (0, 8, 3, 3)], [(1, 2, 4, 5), (6, 7, 4, 5), (2, 12, 3, 3)]],
    "apart": [[(0, 0, 4, 5), (0, 8, 3, 3), (5, 0, 4, 5)], [(1, 2, 4, 5), (2, 12, 3, 3), (6, 7, 4, 5)]],
}


def tiny(head: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    settings = dict(embed_dim=32, depth=2, num_heads=2, head_width=16, head_depth=1, dpt_features=16)
    model = create_model("demo", head=head, out_channels=3, **settings, **overrides)
    if head == "convnext":  # layer scale starts at 1e-6: give the blocks a visible effect
        with torch.no_grad():
            for block in model.head.blocks:
                block.gamma.fill_(0.5)
    return model.eval()


def windows(order: str):
    return from_boxes(torch.tensor(ORDERS[order]), (12, 16))  # 192 x 256 pixels, patch 16


def per_window(model: torch.nn.Module, feats: list[torch.Tensor], win) -> list[torch.Tensor]:
    """The head called once per window (what the models did before batching)."""
    per_layer = [win.split_maps(f) for f in feats]  # layers x windows x (B, D, h_i, w_i)
    return [model.head(list(maps)) for maps in zip(*per_layer)]


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("head", HEADS)
def test_monocular_batched_head_equals_per_window(head: str, order: str) -> None:
    model, win = tiny(head), windows(order)
    img = torch.randn(2, 3, 192, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = model(img, win)
        _, _, feats = model.encoder(img, win, return_layers=model.head.layers)
        expected = per_window(model, feats, win)
    assert [tuple(o.shape) for o in got] == [tuple(e.shape) for e in expected]
    for g, e in zip(got, expected):
        assert_close(g, e, atol=1e-5, rtol=0)


@pytest.mark.parametrize("head", ["convnext", "dpt"])
def test_binocular_batched_head_equals_per_window(head: str) -> None:
    model, w1, w2 = tiny(head, binocular=True, decoder_depth=2), windows("apart"), windows("adjacent")
    gen = torch.Generator().manual_seed(2)
    img1, img2 = torch.randn(2, 3, 192, 256, generator=gen), torch.randn(2, 3, 192, 256, generator=gen)
    with torch.no_grad():
        got = model(img1, img2, windows=(w1, w2))
        expected = per_window(model, model.features(img1, img2, (w1, w2)), w1)
    assert len(got) == 3
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        assert_close(g, e, atol=1e-5, rtol=0)


def previous_convnext_block(block: ConvNeXtBlock, x: torch.Tensor) -> torch.Tensor:
    """The block's formula before channels_last (reference)."""
    y = block.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
    y = block.fc2(block.act(block.fc1(block.norm(y)))) * block.gamma
    return x + y.permute(0, 3, 1, 2)  # (B, C, H, W)


@pytest.mark.parametrize("channels_last", [False, True])
def test_convnext_block_in_channels_last_keeps_its_numbers(channels_last: bool) -> None:
    torch.manual_seed(0)
    block = ConvNeXtBlock(16, layer_scale=0.5)
    x = torch.randn(3, 16, 11, 13)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    xg, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = block(xg), previous_convnext_block(block, xr)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert_close(out, ref, atol=1e-5, rtol=1e-5)
    (gx,) = torch.autograd.grad(out.square().sum(), xg)
    (gr,) = torch.autograd.grad(ref.square().sum(), xr)
    assert_close(gx, gr, atol=1e-4, rtol=1e-4)
