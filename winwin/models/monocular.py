"""The monocular model: ViT encoder + dense head, one forward entry for window batches and full images.

Window batches run the head on each window's feature map separately (paper Sec. 3, "Convolutional heads",
Fig. 2); a full image runs it once on the full map, in one forward, with no tiling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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
            per_layer = [windows.split_maps(f) for f in feats]  # layers x windows x (B, D, h_i, w_i)
            return [self.head(list(maps)) for maps in zip(*per_layer)]
        H, W = img.shape[-2:]
        p = self.patch_size
        pad_h, pad_w = -H % p, -W % p
        if pad_h or pad_w:
            img = F.pad(img, (0, pad_w, 0, pad_h))  # zeros = the mean colour after normalisation
        grid = self.grid_size(img.shape[-2:])
        _, _, feats = self.encoder(img, None, return_layers=self.head.layers)  # each (B, gh*gw, D)
        out = self.head([grid_map(f, grid) for f in feats])  # (B, K, H+pad_h, W+pad_w)
        return out[..., :H, :W]


DenseModel = MonocularModel  # the name before the tasks existed
