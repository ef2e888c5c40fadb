"""Plain ViT encoder whose tokens travel with their positions; runs either the full grid or a window batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..layers import (
    Attention,
    Block,
    LocalBlock,
    LocalWindows,
    PatchEmbed,
    PrefixTokens,
    RoPE2D,
    RoPEMixed,
    cosine_pos_embed,
    global_block_indices,
)
from ..windows import Windows

POS_EMBEDS = ("rope", "cosine", "rope+cosine", "rope_mixed", "none")
ATTENTIONS = ("global", "vitdet")


@dataclass(frozen=True)
class EncoderTokens:
    """What an encoder computes for one batch (``ViTEncoder.tokens``).

    patch: (B, T, D) the patch tokens after the final norm; pos: (B, T, 2) their integer (y, x) grid positions.
    prefix: (B, P, D) the class token (if any) then the storage tokens, after the final norm (P may be 0).
    layers: the requested blocks' outputs (B, P + T, D), prefix tokens first, in the order asked for (the
    last block's after the final norm; the others too when the encoder has ``norm_layers``).
    """

    patch: torch.Tensor
    pos: torch.Tensor
    prefix: torch.Tensor
    layers: list[torch.Tensor]
    num_class: int = 0

    @property
    def cls(self) -> torch.Tensor | None:
        """(B, D) the normed class token, or None without one."""
        return self.prefix[:, 0] if self.num_class else None

    @property
    def storage(self) -> torch.Tensor:
        """(B, S, D) the normed storage (register) tokens; S may be 0."""
        return self.prefix[:, self.num_class :]


class ViTEncoder(nn.Module):
    """ViT with RoPE (default) or an absolute cosine position embedding computed from token positions.

    With ``windows`` only the selected tokens are embedded and processed, with their true grid positions,
    through global attention among all windows of an image (paper Sec. 3, Eq. 1).

    ``attention="vitdet"`` is the ViTDet-style baseline (paper Tables 2, 4): blocks attend inside
    ``vitdet_window`` x ``vitdet_window`` windows of the full grid, except ``vitdet_global_blocks`` evenly
    spaced global blocks (the last one included); full images only.

    ``pos_embed="rope_mixed"``: RoPE-Mixed (Heo et al. 2024), learned mixed-axis frequencies per block and head
    (``RoPEMixed``, in each block's attention), initialised from ``rope_base``; each block computes its
    per-head tables at its turn, so only one block's tables are alive at a time (global and vitdet blocks).

    DINOv3's ViTs (``winwin.models.dinov3``) are this encoder with ``class_token``, ``storage_tokens``,
    ``layer_scale``, ``norm_eps=1e-5``, ``key_bias=False``, ``rope_coords="normalized"``, ``rope_layout="dinov3"``
    and ``norm_layers``. The class and storage tokens go in front of the patch tokens (of the full grid or of
    every window of a batch) without a position; ``forward`` returns the patch tokens only, ``tokens`` all.
    """

    def __init__(
        self,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        pos_embed: str = "rope",
        rope_base: float = 100.0,
        attention: str = "global",
        vitdet_window: int = 14,
        vitdet_global_blocks: int = 4,
        class_token: bool = False,
        storage_tokens: int = 0,
        layer_scale: float | None = None,
        norm_eps: float = 1e-6,
        key_bias: bool = True,
        rope_coords: str = "index",
        rope_layout: str = "croco",
        norm_layers: bool = False,
    ) -> None:
        super().__init__()
        if pos_embed not in POS_EMBEDS:
            raise ValueError(f"pos_embed must be one of {POS_EMBEDS}, got {pos_embed!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        if vitdet_window < 1:
            raise ValueError(f"vitdet_window must be >= 1 tokens, got {vitdet_window}")
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.pos_embed = pos_embed
        if (class_token or storage_tokens) and (attention != "global" or pos_embed == "rope_mixed"):
            raise ValueError(
                f"class / storage tokens work with global attention and pos_embed rope, cosine or none, "
                f"got attention={attention!r}, pos_embed={pos_embed!r}"
            )
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.prefix = PrefixTokens(embed_dim, class_token, storage_tokens)
        self.norm_layers = norm_layers
        axial = pos_embed in ("rope", "rope+cosine")
        # parameter-free, shared by all blocks
        self.rope = RoPE2D(rope_base, rope_coords, rope_layout) if axial else None
        self.head_dim = embed_dim // num_heads
        mixed = pos_embed == "rope_mixed"  # every block its own learned frequencies, drawn at its build
        rates = torch.linspace(0, drop_path, depth).tolist()  # stochastic depth grows with depth
        self.attention, self.vitdet_window = attention, vitdet_window
        glob = set(range(depth)) if attention == "global" else set(global_block_indices(depth, vitdet_global_blocks))
        self.blocks = nn.ModuleList(
            (Block if i in glob else LocalBlock)(
                embed_dim,
                num_heads,
                mlp_ratio,
                qkv_bias,
                drop_path=rate,
                rope=RoPEMixed(num_heads, self.head_dim, rope_base) if mixed else self.rope,
                norm_eps=norm_eps,
                layer_scale=layer_scale,
                key_bias=key_bias,
            )
            for i, rate in enumerate(rates)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.apply(_init_weights)

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def global_blocks(self) -> list[int]:
        """Indices of the blocks with global attention (all of them unless ``attention="vitdet"``)."""
        return [i for i, block in enumerate(self.blocks) if not isinstance(block, LocalBlock)]

    def attention_layers(self) -> list[Attention]:
        return [block.attn for block in self.blocks]

    def layer_groups(self) -> list[list[nn.Module]]:
        """Modules by depth for layer-wise lr decay: [patch_embed, class / storage tokens], block 0, ...,
        block L-1, [final norm]."""
        return [[self.patch_embed, self.prefix]] + [[block] for block in self.blocks] + [[self.norm]]

    def forward(
        self, img: torch.Tensor, windows: Windows | None = None, return_layers: Sequence[int] = ()
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """img: (B, C, H, W), H and W multiples of the patch size.

        Returns the final normed patch tokens (B, T, D), their positions (B, T, 2) and the patch tokens' outputs
        (B, T, D) of the blocks listed in ``return_layers`` (in that order; the last block's output is taken
        after the final norm); T = grid tokens or ``windows.num_tokens``. Class / storage tokens: ``tokens``.
        """
        out = self.tokens(img, windows, return_layers)
        P = len(self.prefix)
        return out.patch, out.pos, [layer[:, P:] for layer in out.layers]  # each (B, T, D)

    def tokens(
        self, img: torch.Tensor, windows: Windows | None = None, return_layers: Sequence[int] = ()
    ) -> EncoderTokens:
        """Like ``forward``, with the class and storage tokens: see ``EncoderTokens``."""
        if windows is not None and windows.grid_hw != self.patch_embed.grid_size(img.shape[-2:]):
            raise ValueError(
                f"windows were sampled on a {windows.grid_hw} grid, "
                f"image grid is {self.patch_embed.grid_size(img.shape[-2:])}"
            )
        if windows is not None and self.attention == "vitdet":
            raise ValueError(
                f"attention=vitdet is a full-resolution baseline: its local blocks need the whole token grid, "
                f"got a window batch of {windows.num_tokens} tokens on a {windows.grid_hw} grid; "
                "run it on full images (windows=None, windows.mode=full)"
            )
        x, pos = self.patch_embed(img, None if windows is None else windows.index)  # (B, T, D), (B, T, 2)
        if "cosine" in self.pos_embed:
            x = x + cosine_pos_embed(pos, self.embed_dim).to(x.dtype)
        grid = self.patch_embed.grid_size(img.shape[-2:])  # the full image's, also for a window batch
        P = len(self.prefix)
        if P:
            x = self.prefix(x)  # (B, P + T, D): class / storage tokens first, no position
        # RoPE cos / sin of the tokens, computed once and shared by every block: (B, 1, P + T, D), the identity for
        # the prefix tokens. rope_mixed: the blocks get the positions and each attention computes its own per-head
        # tables (B, h, T, D) at its turn (never all at once)
        rot = pos if self.rope is None else self.rope.tables(pos, self.head_dim, grid).with_prefix(P)
        local = None  # the windows of the local blocks, shared by all of them
        if len(self.global_blocks()) < self.depth:
            # tables (B*nW, 1, w*w, D); rope_mixed: windowed positions (B*nW, w*w, 2), each block makes its tables
            local = LocalWindows(pos, grid, self.vitdet_window, self.rope, self.head_dim)
        wanted = {i % self.depth for i in return_layers}
        outputs: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            x = block(x, local if isinstance(block, LocalBlock) else rot)
            if i == self.depth - 1:
                x = self.norm(x)
            if i in wanted:
                outputs[i] = x if i == self.depth - 1 or not self.norm_layers else self.norm(x)
        layers = [outputs[i % self.depth] for i in return_layers]
        return EncoderTokens(x[:, P:], pos, x[:, :P], layers, self.prefix.num_class)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
