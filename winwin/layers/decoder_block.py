"""Binocular decoder block (CroCo's ``DecoderBlock``): self-attention among the first frame's tokens, then
cross-attention from them to the second frame's tokens, then an MLP, each pre-normed and residual.

Both frames' tokens travel with their own positions: RoPE rotates the queries by the first frame's
positions and the keys by the second frame's, so a window of frame 2 taken anywhere in the image is seen
at its true place.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention, CrossAttention
from .drop import DropPath
from .mlp import Mlp
from .rope import RoPE2D, RotaryTables


class DecoderBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        rope: RoPE2D | None = None,
        norm_memory: bool = True,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, rope=rope)
        self.norm2 = norm_layer(dim, eps=norm_eps)
        self.cross_attn = CrossAttention(dim, num_heads, qkv_bias=qkv_bias, rope=rope)
        # CroCo's ``norm_im2_in_dec``: the second frame's tokens are normed before every cross-attention
        self.norm_y = norm_layer(dim, eps=norm_eps) if norm_memory else nn.Identity()
        self.norm3 = norm_layer(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(
        self, x: torch.Tensor, pos: torch.Tensor | RotaryTables, mem: torch.Tensor, mem_pos: torch.Tensor | RotaryTables
    ) -> torch.Tensor:
        """x: (B, N1, C) first-frame tokens at pos (B, N1, 2); mem: (B, N2, C) second-frame tokens at
        mem_pos (B, N2, 2); positions or their RoPE tables. Returns the updated first-frame tokens (B, N1, C);
        ``mem`` is not changed."""
        x = x + self.drop_path(self.attn(self.norm1(x), pos))
        x = x + self.drop_path(self.cross_attn(self.norm2(x), pos, self.norm_y(mem), mem_pos))
        return x + self.drop_path(self.mlp(self.norm3(x)))
