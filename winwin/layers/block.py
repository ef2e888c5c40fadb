"""Pre-norm transformer block whose tokens travel with their positions (CroCo's ``Block``)."""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention
from .drop import DropPath
from .mlp import Mlp
from .rope import RotaryTables
from .rope_mixed import Rotary


class Block(nn.Module):
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
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, rope=rope)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm_layer(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, pos: torch.Tensor | RotaryTables) -> torch.Tensor:
        """x: (B, N, C), pos: (B, N, 2) or their RoPE tables -> (B, N, C)."""
        x = x + self.drop_path(self.attn(self.norm1(x), pos))
        return x + self.drop_path(self.mlp(self.norm2(x)))
