"""Torch-only building blocks of winwin's ViTs. Imports nothing else of winwin."""

from .attention import Attention, AttentionBase, CrossAttention
from .block import Block
from .decoder_block import DecoderBlock
from .drop import DropPath, drop_path
from .layer_scale import LayerScale
from .local_attention import LocalBlock, LocalWindows, global_block_indices, window_partition, window_unpartition
from .mlp import Mlp
from .patch_embed import PatchEmbed, grid_positions, patchify
from .pos_embed import cosine_pos_embed
from .prefix_tokens import PrefixTokens
from .rope import RoPE2D, RotaryTables
from .rope_mixed import RoPEMixed, Rotary, mixed_frequencies

__all__ = [
    "Attention",
    "AttentionBase",
    "Block",
    "CrossAttention",
    "DecoderBlock",
    "DropPath",
    "LayerScale",
    "LocalBlock",
    "LocalWindows",
    "Mlp",
    "PatchEmbed",
    "PrefixTokens",
    "RoPE2D",
    "RoPEMixed",
    "Rotary",
    "RotaryTables",
    "cosine_pos_embed",
    "drop_path",
    "global_block_indices",
    "grid_positions",
    "mixed_frequencies",
    "patchify",
    "window_partition",
    "window_unpartition",
]
