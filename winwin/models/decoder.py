"""The binocular decoder of CroCo / CroCo-Flow: the first frame's encoder tokens attend to themselves and,
through cross-attention, to the second frame's tokens; it outputs one token per first-frame token."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers import AttentionBase, DecoderBlock, RoPE2D
from .encoder import _init_weights


class CrossDecoder(nn.Module):
    """``embed`` (encoder width -> decoder width, shared by both frames), ``depth`` decoder blocks, final norm.

    Any token subsets work (full grids, windows of different counts and sizes in each frame): every token
    carries its own (y, x) position.
    """

    def __init__(
        self,
        enc_dim: int,
        dim: int = 512,
        depth: int = 8,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        rope_base: float | None = 100.0,
        norm_memory: bool = True,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.embed = nn.Linear(enc_dim, dim)  # CroCo's ``decoder_embed``
        self.rope = RoPE2D(rope_base) if rope_base is not None else None  # shared by all blocks
        self.head_dim = dim // num_heads
        rates = torch.linspace(0, drop_path, depth).tolist()
        self.blocks = nn.ModuleList(
            DecoderBlock(dim, num_heads, mlp_ratio, qkv_bias, rate, self.rope, norm_memory) for rate in rates
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(_init_weights)

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def attention_layers(self) -> list[AttentionBase]:
        return [m for block in self.blocks for m in (block.attn, block.cross_attn)]

    def layer_groups(self) -> list[list[nn.Module]]:
        """Modules by depth for layer-wise lr decay: [embed], block 0, ..., block L-1, [final norm]."""
        return [[self.embed]] + [[block] for block in self.blocks] + [[self.norm]]

    def forward(
        self,
        enc1: torch.Tensor,
        pos1: torch.Tensor,
        enc2: torch.Tensor,
        pos2: torch.Tensor,
        return_layers: Sequence[int] = (),
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """enc1: (B, N1, E) first-frame encoder tokens at pos1 (B, N1, 2); enc2: (B, N2, E) at pos2 (B, N2, 2).

        Returns the first frame's tokens after the final norm (B, N1, C) and the outputs (B, N1, C) of the
        blocks in ``return_layers`` (block indices; the last block's output is taken after the final norm).
        """
        return self.run(self.embed(enc1), pos1, self.embed(enc2), pos2, return_layers)  # (B, N1, C) ...

    def run(
        self,
        x: torch.Tensor,
        pos1: torch.Tensor,
        mem: torch.Tensor,
        pos2: torch.Tensor,
        return_layers: Sequence[int] = (),
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The blocks and the final norm on tokens already at the decoder width: x (B, N1, C), mem (B, N2, C)
        (``forward`` after ``embed``; cross-view completion puts mask tokens among x first)."""
        rot1, rot2 = pos1, pos2
        if self.rope is not None:  # RoPE cos / sin of both frames' tokens, once for all blocks
            rot1, rot2 = self.rope.tables(pos1, self.head_dim), self.rope.tables(pos2, self.head_dim)
        wanted = {i % self.depth for i in return_layers}
        outputs: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            x = block(x, rot1, mem, rot2)
            if i == self.depth - 1:
                x = self.norm(x)
            if i in wanted:
                outputs[i] = x
        return x, [outputs[i % self.depth] for i in return_layers]
