"""Torch-only building blocks of winwin's ViTs. Imports nothing else of winwin."""

from .attention import Attention, AttentionBase, CrossAttention
from .block import Block
from .decoder_block import DecoderBlock
from .drop import DropPath, drop_path
from .mlp import Mlp
from .patch_embed import PatchEmbed, grid_positions, patchify
from .pos_embed import cosine_pos_embed
from .rope import RoPE2D, RotaryTables

__all__ = [
    "Attention",
    "AttentionBase",
    "Block",
    "CrossAttention",
    "DecoderBlock",
    "DropPath",
    "Mlp",
    "PatchEmbed",
    "RoPE2D",
    "RotaryTables",
    "cosine_pos_embed",
    "drop_path",
    "grid_positions",
    "patchify",
]
