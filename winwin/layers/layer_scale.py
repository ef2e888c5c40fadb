"""Layer scale (Touvron et al., CaiT 2021; DINOv2 / DINOv3): a learned per-channel factor on a residual branch."""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """x * gamma, gamma (dim,) initialised to ``init`` (DINOv3: 1e-5). Parameter name as in DINOv3."""

    def __init__(self, dim: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., dim) -> (..., dim)."""
        return x * self.gamma
