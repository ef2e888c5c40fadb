"""Banded inference of the DPT head (memory of large maps): the same prediction as the plain head, only
without gradients and above ``band_pixels``; training takes the plain path, bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import assert_close
from winwin.models import create_model
from winwin.models.heads import DPTHead
from winwin.models.heads import dpt as dpt_module
from winwin.models.heads.bands import band_slabs, map_row_bands


def tiny_head(padding_mode: str = "replicate", patch_size: int = 16, **kwargs) -> DPTHead:
    torch.manual_seed(0)
    head = DPTHead([12, 8, 8, 8], 3, patch_size, [0, 1, 2, 3], 8, (4, 6, 6, 8), padding_mode, **kwargs)
    return head.eval()


def token_maps(batch: int, h: int, w: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(batch, d, h, w, generator=gen) for d in (12, 8, 8, 8)]


def plain_forward(head: DPTHead, maps: list[torch.Tensor]) -> torch.Tensor:
    """The head's forward before banded inference existed (reference)."""
    h, w = maps[0].shape[-2:]
    deep = F.pad(maps[3], (0, w % 2, 0, h % 2), mode="replicate") if (h % 2 or w % 2) else maps[3]
    feats = [module(m) for module, m in zip(head.reassemble, [*maps[:3], deep])]
    x = head.fusion[3](feats[3], None, feats[2].shape[-2:])
    x = head.fusion[2](x, feats[2], feats[1].shape[-2:])
    x = head.fusion[1](x, feats[1], feats[0].shape[-2:])
    x = head.fusion[0](x, feats[0], (h * head.patch_size // 2, w * head.patch_size // 2))
    x = head.out(x)
    size = (h * head.patch_size, w * head.patch_size)
    return x if x.shape[-2:] == size else F.interpolate(x, size=size, mode="bilinear", align_corners=False)


@pytest.fixture
def band_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Records (number of bands, halo) of every ``map_row_bands`` call of the head."""
    calls: list[tuple[int, int]] = []

    def recording(fn, start, stop, height, band, halo, scale):
        calls.append((len(band_slabs(start, stop, height, band, halo)), halo))
        return map_row_bands(fn, start, stop, height, band, halo, scale)

    monkeypatch.setattr(dpt_module, "map_row_bands", recording)
    return calls


def band_pixels_for(rows: int, batch: int, w: int) -> int:
    """``band_pixels`` giving bands of ``rows`` token rows (and of ``rows`` 1/4 rows inside them)."""
    return rows * batch * 4 * w * 16


@pytest.mark.parametrize("padding_mode", ["zeros", "replicate"])
@pytest.mark.parametrize(("batch", "h", "w", "rows"), [(1, 7, 5, 1), (2, 7, 5, 3), (1, 9, 6, 2), (1, 6, 3, 4)])
def test_banded_inference_equals_the_plain_head(
    band_calls: list[tuple[int, int]], padding_mode: str, batch: int, h: int, w: int, rows: int
) -> None:
    head, maps = tiny_head(padding_mode), token_maps(batch, h, w)
    with torch.no_grad():
        expected = plain_forward(head, maps)
        head.band_pixels = band_pixels_for(rows, batch, w)
        got = head(maps)
    assert got.shape == (batch, 3, 16 * h, 16 * w)
    assert_close(got, expected, atol=1e-5 * expected.abs().max().item(), rtol=0)
    # several bands at each level: the 1/8 stage, the token rows, the 1/4 rows inside the first token band
    assert band_calls[0] == (-(-h // rows), dpt_module.EIGHTH_HALO)
    assert band_calls[1] == (-(-h // rows), dpt_module.TOKEN_HALO)
    assert band_calls[2][0] >= 2 and band_calls[2][1] == dpt_module.QUARTER_HALO


def test_full_flow_model_in_bands_equals_one_pass(band_calls: list[tuple[int, int]]) -> None:
    torch.manual_seed(0)
    model = create_model("demo", binocular=True, head="dpt", out_channels=3, decoder_depth=2, head_padding="replicate")
    model.eval()
    gen = torch.Generator().manual_seed(2)
    img1, img2 = torch.randn(1, 3, 150, 90, generator=gen), torch.randn(1, 3, 150, 90, generator=gen)
    with torch.no_grad():
        model.head.band_pixels = None
        expected = model(img1, img2)
        model.head.band_pixels = band_pixels_for(2, 1, 6)  # 10 x 6 tokens after padding: 5 bands
        got = model(img1, img2)
    assert got.shape == (1, 3, 150, 90) and band_calls[:2] == [(5, dpt_module.EIGHTH_HALO), (5, dpt_module.TOKEN_HALO)]
    assert_close(got, expected, atol=1e-5 * expected.abs().max().item(), rtol=0)


def test_training_and_small_maps_take_the_plain_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_bands(*args, **kwargs):
        raise AssertionError("banded path taken")

    monkeypatch.setattr(dpt_module, "map_row_bands", no_bands)
    head, maps = tiny_head(band_pixels=1), token_maps(2, 5, 3)
    got = head(maps)  # gradients enabled: plain, bit for bit
    assert got.requires_grad and torch.equal(got, plain_forward(head, maps))
    got.square().mean().backward()
    assert all(p.grad is not None for p in head.parameters())
    with torch.no_grad():
        head.band_pixels = 2 * 5 * 3 * 16 * 16  # exactly the output's pixels: not above the threshold
        assert torch.equal(head(maps), plain_forward(head, maps))
        head.band_pixels = None
        assert torch.equal(head(maps), plain_forward(head, maps))
        patch8 = tiny_head(patch_size=8, band_pixels=1)  # banded only for patch 16
        assert torch.equal(patch8(maps), plain_forward(patch8, maps))


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "64"])
def test_band_pixels_is_validated(value) -> None:
    with pytest.raises(ValueError, match="band_pixels must be a positive int"):
        tiny_head(band_pixels=value)
    head = tiny_head(band_pixels=None)
    with pytest.raises(ValueError, match="band_pixels must be a positive int"):
        head.band_pixels = value
    assert head.band_pixels is None


def test_band_slabs_cover_the_rows_with_clipped_halos() -> None:
    assert band_slabs(0, 7, 7, 3, 2) == [(0, 5, 0, 3), (1, 7, 3, 6), (4, 7, 6, 7)]
    assert band_slabs(4, 12, 20, 4, 2) == [(2, 10, 4, 8), (6, 14, 8, 12)]
    with pytest.raises(ValueError, match="bad bands"):
        band_slabs(0, 7, 7, 0, 2)
    with pytest.raises(ValueError, match="bad bands"):
        band_slabs(0, 8, 7, 3, 2)
