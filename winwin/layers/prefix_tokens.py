"""Learned tokens put in front of the patch tokens: a class token and storage (register) tokens (Darcet et
al. 2024; DINOv2 / DINOv3). They carry no position: RoPE leaves them unrotated. In a window batch they join
every image's windows, attending to and from all of its windows' tokens."""

from __future__ import annotations

import torch
from torch import nn


class PrefixTokens(nn.Module):
    """``cls_token`` (1, 1, D) when ``class_token``, then ``storage_tokens`` (1, S, D): DINOv3's names and
    order. ``forward(x)`` puts them in front of the tokens x."""

    def __init__(self, dim: int, class_token: bool = True, storage_tokens: int = 0) -> None:
        super().__init__()
        if storage_tokens < 0:
            raise ValueError(f"storage_tokens must be >= 0, got {storage_tokens}")
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if class_token else None
        self.storage_tokens = nn.Parameter(torch.zeros(1, storage_tokens, dim)) if storage_tokens else None
        for p in self.parameters():
            nn.init.normal_(p, std=0.02)

    @property
    def num_class(self) -> int:
        return 0 if self.cls_token is None else 1

    def __len__(self) -> int:
        """Tokens put in front: class token (0 or 1) + storage tokens."""
        return sum(p.shape[1] for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D) -> (B, P + N, D), P = len(self)."""
        B = x.shape[0]
        front = [p.expand(B, -1, -1).to(x.dtype) for p in self.parameters()]  # each (B, 1|S, D)
        return torch.cat((*front, x), dim=1)  # (B, P + N, D)
