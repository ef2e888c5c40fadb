"""DPT head (Ranftl et al. 2021): reassemble 4 intermediate token maps at 4x, 2x, 1x and 1/2 of the token
resolution, fuse them coarse to fine with residual conv units, then predict at pixel resolution.
Written for any window size: every upsampling targets the size of the next finer map.

Inference on a large map (no gradients, more than ``band_pixels`` output pixels, patch 16) runs the stages
at 1/8 of the pixel resolution and finer (256 channels for ViT-Base: almost all of the memory) in horizontal
bands with a halo, so that no map finer than 1/8 (but the prediction) exists at full size; the result is the
same, float rounding aside. Memory then grows with the image like the 1/8 map, not like the 1/1 maps."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .bands import map_row_bands

# Halos of the banded inference: how far a cut slab edge reaches into the output (3x3 conv: 1 row at its
# resolution; 2x bilinear upsampling: doubles it, plus 1 row of clamping at the cut).
# 1/8 stage, from the token and 1/16 maps: 1 (reassemble conv, or the upsampling) + 4 (two residual units)
# = 5 rows at 1/8: < 3 tokens.
EIGHTH_HALO = 3
# Prediction, from the token and 1/8 maps: 1 (reassemble conv, or the upsampling) + 4 (two residual units) = 5
# rows at 1/4; 11 at 1/2; 12 after the 3x3 conv; 25 at 1/1; 26 after the last 3x3 conv: < 2 tokens of 16 pixels.
TOKEN_HALO = 2
# From the fused 1/4 map: 1 row at 1/2; 2 after the 3x3 conv; 5 at 1/1; 6 after the last 3x3 conv: < 2 rows at 1/4.
QUARTER_HALO = 2
BANDED_PATCH_SIZE = 16  # the fine maps are then exactly 4x, 8x and 16x the token grid: bands of whole rows


class ResidualConvUnit(nn.Module):
    def __init__(self, features: int, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, padding_mode=padding_mode)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, H, W) -> (B, F, H, W)."""
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    def __init__(self, features: int, with_skip: bool = True, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.skip_unit = ResidualConvUnit(features, padding_mode) if with_skip else None
        self.unit = ResidualConvUnit(features, padding_mode)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """x, skip: (B, F, h, w) -> (B, F, *size)."""
        return self.resample(self.fuse(x, skip), size)

    def fuse(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        """x, skip: (B, F, h, w) -> (B, F, h, w), before the resampling."""
        if self.skip_unit is not None:
            if skip is None:
                raise ValueError("this fusion block expects a skip connection")
            x = x + self.skip_unit(skip)
        return self.unit(x)

    def resample(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, F, h, w) -> (B, F, *size)."""
        return self.out_conv(upsample_to(x, size))


def upsample_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, F, h, w) -> (B, F, *size), bilinear. A target of twice the size (less one, for a map that was
    padded to an even size before a stride-2 step) is upsampled by exactly 2 and cropped, so that a window's
    map and the full image's map agree pixel for pixel wherever they cover the same tokens; a resize to
    an arbitrary size would stretch a window's map differently from the full image's."""
    h, w = x.shape[-2:]
    if size[0] in (2 * h, 2 * h - 1) and size[1] in (2 * w, 2 * w - 1):
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)[..., : size[0], : size[1]]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _resample(in_ch: int, out_ch: int, factor: float, padding_mode: str) -> nn.Module:
    if factor > 1:
        k = int(factor)
        return nn.ConvTranspose2d(in_ch, out_ch, kernel_size=k, stride=k)
    if factor < 1:
        return nn.Conv2d(in_ch, out_ch, 3, stride=int(round(1 / factor)), padding=1, padding_mode=padding_mode)
    return nn.Identity()


class DPTHead(nn.Module):
    FACTORS = (4.0, 2.0, 1.0, 0.5)  # resolution of each reassembled map relative to the token grid

    def __init__(
        self,
        embed_dim: int | Sequence[int],
        out_channels: int,
        patch_size: int,
        layers: Sequence[int],
        features: int = 64,
        channels: Sequence[int] = (48, 96, 192, 384),
        padding_mode: str = "zeros",
        band_pixels: int | None = 2**18,
    ) -> None:
        super().__init__()
        self.band_pixels = band_pixels
        if len(layers) != 4 or len(channels) != 4:
            raise ValueError(f"DPT head needs 4 encoder layers and 4 channel widths, got {layers} and {channels}")
        dims = [embed_dim] * 4 if isinstance(embed_dim, int) else list(embed_dim)  # width of each input map
        if len(dims) != 4:
            raise ValueError(f"DPT head needs one input width or 4, got {embed_dim}")
        self.layers = tuple(layers)
        self.patch_size = patch_size
        self.reassemble = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(dim, ch, 1),
                _resample(ch, ch, f, padding_mode),
                nn.Conv2d(ch, features, 3, padding=1, bias=False, padding_mode=padding_mode),
            )
            for dim, ch, f in zip(dims, channels, self.FACTORS)
        )
        self.fusion = nn.ModuleList(FusionBlock(features, i < 3, padding_mode) for i in range(4))  # deepest has no skip
        self.out = nn.Sequential(
            nn.Conv2d(features, features // 2, 3, padding=1, padding_mode=padding_mode),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(features // 2, 32, 3, padding=1, padding_mode=padding_mode),
            nn.ReLU(),
            nn.Conv2d(32, out_channels, 1),
        )

    @property
    def band_pixels(self) -> int | None:
        """Inference without gradients on more than this many output pixels (over the batch) predicts them in
        bands of about this many pixels, from bands of token rows 4x as tall (their 1/8 and 1/4 maps); memory
        per band grows with it, recomputed halo rows shrink with it. None: never."""
        return self._band_pixels

    @band_pixels.setter
    def band_pixels(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"DPT band_pixels must be a positive int (output pixels per band) or None, got {value!r}")
        self._band_pixels = value

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """maps: 4 x (B, D_i, h, w), shallow to deep -> (B, K, h*p, w*p)."""
        B, _, h, w = maps[0].shape
        p = self.patch_size
        x = self._deep(maps[2:])  # (B, F, h, w)
        if self._banded(B * h * w * p * p):
            return self._fine_in_bands(maps[:2], x)
        x = self._eighth(maps[1], x)  # (B, F, 2h, 2w)
        x = self._pixels(self._quarter(maps[0], x), (h * p // 2, w * p // 2))  # (B, K, ~h*p, ~w*p)
        size = (h * p, w * p)
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x

    def _banded(self, pixels: int) -> bool:
        return (
            not torch.is_grad_enabled()
            and self.band_pixels is not None
            and pixels > self.band_pixels
            and self.patch_size == BANDED_PATCH_SIZE
        )

    def _deep(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """maps 2 and 3: 2 x (B, D_i, h, w) -> the stage at the token grid (1/16 of the pixel resolution at patch 16),
        fused, before its upsampling: (B, F, h, w)."""
        h, w = maps[0].shape[-2:]
        # The stride-2 branch sees an even-sized map (replicated last row / column when h or w is odd), so that
        # its output cells are whole 2x2 blocks of tokens, for a window as for the full image.
        deep = F.pad(maps[1], (0, w % 2, 0, h % 2), mode="replicate") if (h % 2 or w % 2) else maps[1]
        x = self.fusion[3](self.reassemble[3](deep), None, (h, w))  # (B, F, h, w)
        return self.fusion[2].fuse(x, self.reassemble[2](maps[0]))  # (B, F, h, w)

    def _eighth(self, tokens: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
        """tokens (B, D_1, n, w), the token-grid stage of their rows (B, F, n, w) -> the 1/8 stage (2x the token
        grid) fused, before its upsampling: (B, F, 2n, 2w)."""
        n, w = tokens.shape[-2:]
        x = self.fusion[2].resample(deep, (2 * n, 2 * w))  # (B, F, 2n, 2w)
        return self.fusion[1].fuse(x, self.reassemble[1](tokens))  # (B, F, 2n, 2w)

    def _quarter(self, tokens: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """tokens (B, D_0, n, w), the 1/8 stage of their rows (B, F, 2n, 2w) -> the 1/4 stage (4x the token grid)
        fused, before its upsampling: (B, F, 4n, 4w)."""
        n, w = tokens.shape[-2:]
        x = self.fusion[1].resample(coarse, (4 * n, 4 * w))  # (B, F, 4n, 4w)
        return self.fusion[0].fuse(x, self.reassemble[0](tokens))  # (B, F, 4n, 4w)

    def _pixels(self, x: torch.Tensor, half: tuple[int, int]) -> torch.Tensor:
        """The 1/4 stage (B, F, q, v) -> the prediction (B, K, 2 * half), through F maps at ``half`` (about 2q, 2v)."""
        return self.out(self.fusion[0].resample(x, half))

    def _fine_in_bands(self, maps: list[torch.Tensor], deep: torch.Tensor) -> torch.Tensor:
        """The plain path from the token-grid stage on (patch 16), in bands: maps 0 and 1 (B, D_i, h, w), the
        token-grid stage (B, F, h, w) -> (B, K, 16h, 16w). The 1/8 stage (B, F, 2h, 2w) is made in bands of token
        rows, then the prediction in bands of token rows (their 1/4 maps), each in bands of 1/4 rows (the finer
        maps)."""
        B, _, h, w = deep.shape
        rows = max(1, self.band_pixels // (B * 4 * w * BANDED_PATCH_SIZE))  # tokens per band; 1/4 rows per inner band
        coarse = map_row_bands(partial(self._eighth_band, maps[1], deep), 0, h, h, rows, EIGHTH_HALO, 2)
        band = partial(self._token_band, maps[0], coarse, rows)
        return map_row_bands(band, 0, h, h, rows, TOKEN_HALO, BANDED_PATCH_SIZE)

    def _eighth_band(self, tokens: torch.Tensor, deep: torch.Tensor, r0: int, r1: int, a: int, b: int) -> torch.Tensor:
        """The 1/8 stage of token rows [a, b), from the slab of token rows [r0, r1) -> (B, F, 2(b - a), 2w)."""
        x = self._eighth(tokens[:, :, r0:r1], deep[:, :, r0:r1])  # (B, F, 2(r1 - r0), 2w)
        return x[:, :, 2 * (a - r0) : 2 * (b - r0)]

    def _token_band(
        self, tokens: torch.Tensor, coarse: torch.Tensor, rows: int, r0: int, r1: int, a: int, b: int
    ) -> torch.Tensor:
        """The prediction of token rows [a, b), from the slab of token rows [r0, r1) -> (B, K, 16(b - a), 16w)."""
        x = self._quarter(tokens[:, :, r0:r1], coarse[:, :, 2 * r0 : 2 * r1])  # (B, F, 4(r1 - r0), 4w)
        band = partial(self._quarter_band, x)
        return map_row_bands(band, 4 * (a - r0), 4 * (b - r0), x.shape[-2], rows, QUARTER_HALO, 4)

    def _quarter_band(self, x: torch.Tensor, r0: int, r1: int, a: int, b: int) -> torch.Tensor:
        """The prediction of rows [a, b) of the 1/4 stage x (B, F, q, v), from its rows [r0, r1) only
        -> (B, K, 4(b - a), 4v)."""
        y = self._pixels(x[:, :, r0:r1], (2 * (r1 - r0), 2 * x.shape[-1]))  # (B, K, 4(r1 - r0), 4v)
        return y[:, :, 4 * (a - r0) : 4 * (b - r0)]
