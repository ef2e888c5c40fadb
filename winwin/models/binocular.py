"""The binocular model (CroCo-Flow, paper Sec. 4.2 and App. E.2): a Siamese ViT encoder embeds both frames,
a decoder lets the first frame's tokens attend to the second frame's, and a dense head predicts per pixel of
the first frame (flow u, v and a confidence for optical flow).

Window training (paper Sec. 3, binocular tasks): each frame keeps only its own windows' tokens, the first
frame's windows chosen at random and the second frame's guided by the flow. The head runs on each of the
first frame's windows separately, as for a monocular model (windows of one size stacked into one call); a
full pair runs in one pass, with no tiling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..windows import Windows, grid_map
from .config import ModelConfig
from .decoder import CrossDecoder
from .dense import DenseModelBase
from .encoder import ViTEncoder
from .monocular import head_on_windows

WindowPair = tuple[Windows, Windows]


class BinocularModel(DenseModelBase):
    """Dense predictor of a frame pair: (B, C, H, W) x 2 -> per-pixel outputs of frame 1 (B, K, H, W).

    ``model(img1, img2)`` is the full pair in one pass; ``model(img1, img2, windows=(w1, w2))`` keeps the
    tokens of ``w1`` in frame 1 and of ``w2`` in frame 2 and returns one (B, K, h_i*p, w_i*p) map per window
    of ``w1``. ``head.layers`` index the sequence [encoder output, decoder block 0, ..., decoder block L-1].
    """

    num_inputs = 2

    def __init__(self, config: ModelConfig, encoder: ViTEncoder, decoder: CrossDecoder, head: nn.Module) -> None:
        super().__init__(config, encoder, head)
        self.decoder = decoder

    def _trunk_groups(self) -> list[list[nn.Module]]:
        return self.encoder.layer_groups() + self.decoder.layer_groups()

    def _encode(
        self, img1: torch.Tensor, img2: torch.Tensor, windows: WindowPair | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Both frames through the shared encoder -> enc1 (B, N1, E), pos1 (B, N1, 2), enc2 (B, N2, E), pos2."""
        B = img1.shape[0]
        if windows is None:  # one encoder call for both frames: (2B, C, H, W)
            enc, pos, _ = self.encoder(torch.cat((img1, img2)))  # (2B, N, E), (2B, N, 2)
            return enc[:B], pos[:B], enc[B:], pos[B:]
        w1, w2 = windows
        if w1.sizes == w2.sizes and w1.num_extra == w2.num_extra:  # same token layout: one call, (2B, ...)
            both = Windows(
                torch.cat((w1.boxes, w2.boxes)),
                torch.cat((w1.index, w2.index)),
                torch.cat((w1.pos, w2.pos)),
                w1.grid_hw,
                w1.num_extra,
                w1.hw,
            )
            enc, pos, _ = self.encoder(torch.cat((img1, img2)), both)  # (2B, N, E), (2B, N, 2)
            return enc[:B], pos[:B], enc[B:], pos[B:]
        enc1, pos1, _ = self.encoder(img1, w1)  # (B, N1, E)
        enc2, pos2, _ = self.encoder(img2, w2)  # (B, N2, E)
        return enc1, pos1, enc2, pos2

    def features(self, img1: torch.Tensor, img2: torch.Tensor, windows: WindowPair | None = None) -> list[torch.Tensor]:
        """The token features (B, N1, D_i) the head reads (``head.layers``), for the first frame's tokens."""
        enc1, pos1, enc2, pos2 = self._encode(img1, img2, windows)
        n = self.decoder.depth + 1
        hooks = [i % n for i in self.head.layers]  # 0: the encoder output, k: decoder block k-1
        _, dec = self.decoder(enc1, pos1, enc2, pos2, return_layers=[k - 1 for k in hooks if k])
        dec_iter = iter(dec)
        return [next(dec_iter) if k else enc1 for k in hooks]

    def forward(
        self, img1: torch.Tensor, img2: torch.Tensor, windows: WindowPair | None = None
    ) -> torch.Tensor | list[torch.Tensor]:
        """img1, img2: (B, C, H, W).

        windows=None: the full pair in one pass, any size (padded to the patch size, cropped back)
        -> (B, K, H, W). With ``windows=(w1, w2)`` (H, W multiples of the patch size): one
        (B, K, h_i*p, w_i*p) map per window of ``w1``.
        """
        if img1.shape != img2.shape:
            raise ValueError(f"the two frames differ in shape: {tuple(img1.shape)} and {tuple(img2.shape)}")
        if windows is not None:
            return head_on_windows(self.head, self.features(img1, img2, windows), windows[0])  # maps of w1
        H, W = img1.shape[-2:]
        p = self.patch_size
        pad_h, pad_w = -H % p, -W % p
        if pad_h or pad_w:
            img1, img2 = (F.pad(x, (0, pad_w, 0, pad_h)) for x in (img1, img2))
        grid = self.grid_size(img1.shape[-2:])
        out = self.head([grid_map(f, grid) for f in self.features(img1, img2)])  # (B, K, H+pad_h, W+pad_w)
        return out[..., :H, :W]
