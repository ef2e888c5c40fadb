"""Pre-norm transformer block whose tokens travel with their positions (CroCo's ``Block``)."""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention
from .drop import DropPath
from .layer_scale import LayerScale
from .mlp import Mlp
from .rope import RotaryTables
from .rope_mixed import Rotary


class Block(nn.Module):
    """x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x))); ``layer_scale``: the initial per-channel factor of
    each branch (DINOv3: 1e-5), None = no factor. ``key_bias=False``: the keys get no bias (DINOv3)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        rope: Rotary | None = None,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        norm_eps: float = 1e-6,
        layer_scale: float | None = None,
        key_bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, rope=rope, key_bias=key_bias)
        self.ls1 = nn.Identity() if layer_scale is None else LayerScale(dim, layer_scale)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm_layer(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = nn.Identity() if layer_scale is None else LayerScale(dim, layer_scale)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | RotaryTables) -> torch.Tensor:
        """x: (B, N, C), pos: (B, N, 2) or their RoPE tables -> (B, N, C)."""
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x), pos)))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
