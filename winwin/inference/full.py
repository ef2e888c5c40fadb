"""Full-resolution inference: the whole image in one forward pass, no windows, no tiling (paper Sec. 3)."""

from __future__ import annotations

import torch
from torch import nn

from ..models.temperature import temperature_override


@torch.no_grad()
def full_resolution(model: nn.Module, inputs: list[torch.Tensor], temperature: float | None = None) -> torch.Tensor:
    """The model's raw output for full images: inputs each (B, 3, H, W) -> (B, K, H, W), in eval mode.

    ``temperature`` overrides the model's attention temperature (None: its own, shared or per head). The
    model's train / eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with temperature_override(model, temperature):
            return model(*inputs)
    finally:
        model.train(was_training)
