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
