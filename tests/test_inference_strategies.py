"""Tiling and resize inference for every task: tile layout, blending, resize scaling."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_close
from winwin.errors import InputError
from winwin.inference import InferenceSpec, infer, tile_grid, tile_starts, tiled
from winwin.inference.options import parse_hw
from winwin.models import create_model
from winwin.tasks.depth import DepthSettings, DepthTask
from winwin.tasks.flow import FlowTask


def test_tile_starts_cover_the_image_with_the_overlap():
    assert tile_starts(100, 100, 0.5) == [0] and tile_starts(80, 100, 0.9) == [0]
    assert tile_starts(100, 40, 0.5) == [0, 20, 40, 60]  # stride 20, evenly spread, last tile at the end
    starts = tile_starts(1080, 320, 0.9)  # the paper's crop on a Full-HD frame: stride at most 32 px
    assert starts[0] == 0 and starts[-1] == 760 and max(b - a for a, b in zip(starts, starts[1:])) <= 32
    assert len(tile_grid((1080, 1920), (320, 384), 0.9)) == 25 * 41
    assert len(tile_grid((1080, 1920), (320, 384), 0.5)) == 6 * 9


def test_tiling_averages_and_a_single_tile_is_the_full_pass():
    torch.manual_seed(0)
    task = DepthTask(DepthSettings(), {"min_depth": 0.1, "max_depth": 10.0})
    model = create_model("demo", embed_dim=32, num_heads=2, depth=2, head="linear", out_channels=1).eval()
    img = torch.randn(1, 3, 32, 48)
    full = infer(model, task, [img])
    assert_close(tiled(model, task, [img], (32, 48), 0.5), full, atol=1e-6)
    out = tiled(model, task, [img], (32, 32), 0.5)  # tiles at x = 0 and 16, overlap on 16..32
    left, right = model(img[..., :32]), model(img[..., 16:])
    assert_close(out[..., :16], left[..., :16], atol=1e-6)
    assert_close(out[..., 32:], right[..., 16:], atol=1e-6)
    assert_close(out[..., 16:32], (left[..., 16:] + right[..., :16]) / 2, atol=1e-6)


def test_resize_inference_runs_at_the_given_size():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            return x[:, :1]

    task = DepthTask(DepthSettings(), {"min_depth": 0.1, "max_depth": 10.0})
    out = infer(Probe(), task, [torch.ones(1, 3, 40, 60)], InferenceSpec("resize", (20, 30)))
    assert seen == [(20, 30)] and out.shape == (1, 1, 40, 60) and torch.allclose(out, torch.ones_like(out))


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="needs a tile"):
        InferenceSpec("tiling").validate()
    with pytest.raises(ValueError, match=r"overlap must be in \[0, 1\)"):
        InferenceSpec("tiling", (8, 8), overlap=1.0).validate()
    assert parse_hw("320x384") == (320, 384)
    with pytest.raises(InputError, match="HxW"):
        parse_hw("320")


class _Constant(torch.nn.Module):
    """A model whose raw output is ``values`` at every pixel, whatever the inputs; with ``confidence``
    its last channel is the input's first channel x 3 instead (flow: a confidence that varies per pixel)."""

    def __init__(self, values: list[float], confidence: bool = False) -> None:
        super().__init__()
        self.values, self.confidence = torch.tensor(values), confidence

    def forward(self, x, *more):
        out = self.values[None, :, None, None].expand(x.shape[0], -1, *x.shape[-2:]).clone()
        if self.confidence:
            out[:, -1:] = 3 * x[:, :1]
        return out


@pytest.mark.parametrize("overlap", [0.0, 0.3, 0.5, 0.7, 0.9])
def test_tiling_a_constant_output_stays_constant_at_any_overlap(overlap):
    torch.manual_seed(0)
    img = torch.randn(1, 3, 50, 70)  # tiles do not divide the image: neighbours overlap unevenly
    depth = DepthTask(DepthSettings(), {"min_depth": 0.1, "max_depth": 10.0})  # plain average
    out = tiled(_Constant([0.25]), depth, [img], (16, 24), overlap, tile_batch=3)
    assert out.shape == (1, 1, 50, 70) and torch.allclose(out, torch.full_like(out, 0.25), atol=1e-6)
    flow = FlowTask()  # blended by the confidence, which differs from tile to tile and pixel to pixel
    out = tiled(_Constant([1.5, -2.0, 0.0], confidence=True), flow, [img, img.flip(-1)], (16, 24), overlap)
    assert_close(out[:, :2], torch.tensor([1.5, -2.0])[None, :, None, None].expand(1, 2, 50, 70), atol=1e-5)


@pytest.mark.parametrize(("hw", "tile"), [((64, 96), (16, 32)), ((48, 48), (48, 16)), ((30, 40), (10, 8))])
def test_overlap_0_tiles_cover_each_pixel_exactly_once(hw, tile):
    count = torch.zeros(hw)
    for y, x in tile_grid(hw, tile, 0.0):
        count[y : y + tile[0], x : x + tile[1]] += 1
    assert torch.equal(count, torch.ones(hw))
    assert len(tile_grid(hw, tile, 0.0)) == (hw[0] // tile[0]) * (hw[1] // tile[1])

    class TileRamp(torch.nn.Module):  # output = input + a ramp over the tile's own pixels
        def forward(self, x):
            h, w = x.shape[-2:]
            return x[:, :1] + torch.arange(h * w, dtype=x.dtype).reshape(1, 1, h, w)

    torch.manual_seed(0)
    img = torch.randn(1, 3, *hw)
    task = DepthTask(DepthSettings(), {"min_depth": 0.1, "max_depth": 10.0})
    out = tiled(TileRamp(), task, [img], tile, 0.0)  # each pixel is its one tile's output: weight sum 1
    ramp = torch.arange(tile[0] * tile[1], dtype=img.dtype).reshape(tile).repeat(hw[0] // tile[0], hw[1] // tile[1])
    assert_close(out[0, 0], img[0, 0] + ramp, atol=1e-5)


def test_overlap_0_covers_every_pixel_when_the_tile_does_not_divide_the_image():
    hw, tile = (50, 70), (16, 24)
    count = torch.zeros(hw)
    for y, x in tile_grid(hw, tile, 0.0):
        count[y : y + tile[0], x : x + tile[1]] += 1
    assert count.min() >= 1 and len(tile_grid(hw, tile, 0.0)) == 4 * 3  # the fewest tiles that cover it


def test_resize_returns_the_input_size_and_the_expected_values():
    task = DepthTask(DepthSettings(), {"min_depth": 0.1, "max_depth": 10.0})
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 96), indexing="ij")
    smooth = torch.sin(2 * ys + 1) * torch.cos(1.5 * xs)  # low frequency: survives 2x down and up (not the borders)
    img = smooth.expand(1, 3, 64, 96)

    class FirstChannel(torch.nn.Module):  # the identity on one channel
        def forward(self, x):
            return x[:, :1]

    out = infer(FirstChannel(), task, [img], InferenceSpec("resize", (32, 48)))
    assert out.shape == (1, 1, 64, 96)
    assert_close(out[..., 2:-2, 2:-2], img[:, :1, 2:-2, 2:-2], atol=3e-3)  # half a pixel off: 0.015
    # flow: a constant (u, v) predicted on the resized pair is scaled back to the input's pixels
    out = infer(_Constant([1.0, 2.0, 0.5]), FlowTask(), [img, img], InferenceSpec("resize", (16, 48)))
    assert out.shape == (1, 3, 64, 96)
    expected = torch.tensor([1.0 * 96 / 48, 2.0 * 64 / 16, 0.5])[None, :, None, None].expand(1, 3, 64, 96)
    assert_close(out, expected, atol=1e-6)
