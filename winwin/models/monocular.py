"""The monocular model: ViT encoder + dense head, one forward entry for window batches and full images.

Window batches run the head on each window's feature map separately (paper Sec. 3, "Convolutional heads",
Fig. 2): windows of one size are stacked along the batch axis and go through the head in one call (a
convolution with zero padding still sees each window alone). A full image runs the head once on the full
map, in one forward, with no tiling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..windows import Windows, grid_map
from .dense import DenseModelBase


class MonocularModel(DenseModelBase):
    """Dense predictor of one image: (B, C, H, W) -> per-pixel outputs (B, out_channels, H, W).

    ``forward`` is the only entry (DDP and ``torch.compile`` wrap it): ``model(img)`` is the full image,
    ``model(img, windows)`` one output map per window.
    """

    def forward(self, img: torch.Tensor, windows: Windows | None = None) -> torch.Tensor | list[torch.Tensor]:
        """img: (B, C, H, W).

        windows=None: the full image in one pass, any size (padded to the patch size, cropped back)
        -> (B, K, H, W). With ``windows`` (H, W multiples of the patch size): only the windows' tokens
        are processed -> one (B, K, h_i*p, w_i*p) map per window.
        """
        if windows is not None:
            _, _, feats = self.encoder(img, windows, return_layers=self.head.layers)  # each (B, T, D)
            return head_on_windows(self.head, feats, windows)
        H, W = img.shape[-2:]
        p = self.patch_size
        pad_h, pad_w = -H % p, -W % p
        if pad_h or pad_w:
            img = F.pad(img, (0, pad_w, 0, pad_h))  # zeros = the mean colour after normalisation
        grid = self.grid_size(img.shape[-2:])
        _, _, feats = self.encoder(img, None, return_layers=self.head.layers)  # each (B, gh*gw, D)
        out = self.head([grid_map(f, grid) for f in feats])  # (B, K, H+pad_h, W+pad_w)
        return out[..., :H, :W]


def head_on_windows(head: nn.Module, feats: list[torch.Tensor], windows: Windows) -> list[torch.Tensor]:
    """feats: the head's input layers, each (B, T, D) tokens of ``windows`` -> one (B, K, h_i*p, w_i*p) map
    per window, in window order. The windows of one size go through the head in one call, (n*B, D, h, w)."""
    sizes = windows.sizes  # on the host
    for f in feats:
        if f.shape[1] != windows.num_tokens:
            raise ValueError(f"got {f.shape[1]} tokens for windows holding {windows.num_tokens}")
    starts = [sum(h * w for h, w in sizes[:i]) for i in range(len(sizes))]  # first token of each window
    groups: dict[tuple[int, int], list[int]] = {}
    for i, hw in enumerate(sizes):
        groups.setdefault(hw, []).append(i)
    out: dict[int, torch.Tensor] = {}
    for (h, w), idx in groups.items():
        maps = [_stack_windows(f, [starts[i] for i in idx], h, w) for f in feats]  # each (n*B, D, h, w)
        for i, y in zip(idx, head(maps).chunk(len(idx))):  # each (B, K, h*p, w*p)
            out[i] = y
    return [out[i] for i in range(len(sizes))]


def _stack_windows(x: torch.Tensor, starts: list[int], h: int, w: int) -> torch.Tensor:
    """Tokens (B, T, C) -> the n windows of h x w tokens starting at ``starts``, stacked: (n*B, C, h, w)."""
    B, _, C = x.shape
    n, size = len(starts), h * w
    if starts == list(range(starts[0], starts[0] + n * size, size)):  # adjacent windows: one slice
        tok = x[:, starts[0] : starts[0] + n * size]  # (B, n*h*w, C)
    else:
        tok = torch.cat([x[:, s : s + size] for s in starts], dim=1)  # (B, n*h*w, C)
    return tok.reshape(B, n, h, w, C).permute(1, 0, 4, 2, 3).reshape(n * B, C, h, w)  # (n*B, C, h, w)


DenseModel = MonocularModel  # the name before the tasks existed
