"""Cross-view completion (CroCo's pretext task, Weinzaepfel et al. 2022): most of frame 1's tokens are
masked, frame 2 is seen whole, and the decoder reconstructs frame 1's masked patches from the visible ones
and from frame 2. It is how CroCo's weights learn to match two views; the paper's flow model fine-tunes
from them (App. E.2). Here it pretrains a binocular model on the embedded pairs when no CroCo file exists;
``save_croco`` writes the result in CroCo's own format, which ``train.init`` then loads.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import grid_positions, patchify
from ..windows import Windows
from .binocular import BinocularModel


class CrossViewCompletion(nn.Module):
    """A binocular model's encoder and decoder plus CroCo's ``mask_token`` and ``prediction_head``
    (decoder width -> patch pixels); the model's dense head is not used."""

    def __init__(self, model: BinocularModel) -> None:
        super().__init__()
        self.model = model
        dim, p = model.decoder.dim, model.patch_size
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.prediction_head = nn.Linear(dim, p * p * model.config.in_chans)

    @property
    def config(self):
        """The binocular model's config (its checkpoints add ``mask_token`` and ``prediction_head``)."""
        return self.model.config

    def forward(self, img1: torch.Tensor, img2: torch.Tensor, visible: Windows) -> torch.Tensor:
        """img1, img2: (B, C, H, W); ``visible``: frame 1's kept tokens (e.g. single-token windows).
        Returns every frame-1 token's predicted patch (B, gh*gw, C*p*p), row-major."""
        enc, dec = self.model.encoder, self.model.decoder
        B = img1.shape[0]
        grid = self.model.grid_size(img1.shape[-2:])
        enc1, _, _ = enc(img1, visible)  # (B, Nv, E)
        enc2, pos2, _ = enc(img2)  # (B, N, E), (B, N, 2)
        x = self.mask_token.expand(B, grid[0] * grid[1], -1).clone()  # (B, N, C)
        x.scatter_(1, visible.index[..., None].expand(-1, -1, x.shape[-1]), dec.embed(enc1))  # visible in place
        pos1 = grid_positions(grid, img1.device).expand(B, -1, -1)  # (B, N, 2)
        out, _ = dec.run(x, pos1, dec.embed(enc2), pos2)  # (B, N, C)
        return self.prediction_head(out)  # (B, N, C*p*p)

    def loss(self, img1: torch.Tensor, img2: torch.Tensor, visible: Windows) -> torch.Tensor:
        """Mean squared error on the masked patches, each target patch normalised by its own mean and
        variance (CroCo's ``norm_pix_loss``)."""
        pred = self(img1, img2, visible)  # (B, N, C*p*p)
        target = patchify(img1, self.model.patch_size)  # (B, N, C*p*p)
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
        masked = torch.ones(pred.shape[:2], dtype=torch.bool, device=pred.device)
        masked.scatter_(1, visible.index, False)  # (B, N)
        per_patch = ((pred - target) ** 2).mean(-1)  # (B, N)
        return (per_patch * masked).sum() / masked.sum().clamp(min=1)
