"""DPT head (Ranftl et al. 2021): reassemble 4 intermediate token maps at 4x, 2x, 1x and 1/2 of the token
resolution, fuse them coarse to fine with residual conv units, then predict at pixel resolution.
Written for any window size: every upsampling targets the size of the next finer map."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


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
        if self.skip_unit is not None:
            if skip is None:
                raise ValueError("this fusion block expects a skip connection")
            x = x + self.skip_unit(skip)
        return self.out_conv(upsample_to(self.unit(x), size))


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
    ) -> None:
        super().__init__()
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

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """maps: 4 x (B, D_i, h, w), shallow to deep -> (B, K, h*p, w*p)."""
        h, w = maps[0].shape[-2:]
        # The stride-2 branch sees an even-sized map (replicated last row / column when h or w is odd), so that
        # its output cells are whole 2x2 blocks of tokens, for a window as for the full image.
        deep = F.pad(maps[3], (0, w % 2, 0, h % 2), mode="replicate") if (h % 2 or w % 2) else maps[3]
        feats = [module(m) for module, m in zip(self.reassemble, [*maps[:3], deep])]  # (B, F, 4h, 4w) .. ceil(h/2)
        x = self.fusion[3](feats[3], None, feats[2].shape[-2:])  # (B, F, h, w)
        x = self.fusion[2](x, feats[2], feats[1].shape[-2:])  # (B, F, 2h, 2w)
        x = self.fusion[1](x, feats[1], feats[0].shape[-2:])  # (B, F, 4h, 4w)
        half = (h * self.patch_size // 2, w * self.patch_size // 2)
        x = self.fusion[0](x, feats[0], half)  # (B, F, h*p/2, w*p/2)
        x = self.out(x)  # (B, K, ~h*p, ~w*p)
        size = (h * self.patch_size, w * self.patch_size)
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x
