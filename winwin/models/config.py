"""Typed model configuration, saved as JSON next to every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

HEADS = ("linear", "convnext", "dpt")
POS_EMBEDS = ("rope", "cosine", "rope+cosine", "rope_mixed", "none")
ATTENTIONS = ("global", "vitdet")
ROPE_COORDS = ("index", "normalized")
ROPE_LAYOUTS = ("croco", "dinov3")

# Settings of earlier versions: old name -> (name in checkpoints now, hint for configs).
RENAMED = {
    "num_classes": ("out_channels", "task.num_classes (the model's out_channels follow from the task's settings)"),
    "head_dim": ("head_width", "model.head_width (the ConvNeXt head's channels)"),
}


@dataclass
class ModelConfig:
    arch: str = "tiny"  # registry name the sizes came from (informative)
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path: float = 0.0  # stochastic depth at the last block
    # rope | cosine | rope+cosine (both) | none | rope_mixed: RoPE-Mixed (Heo et al. 2024), learned mixed-axis
    # frequencies per block and head, initialised from rope_base (monocular models only)
    pos_embed: str = "rope"
    rope_base: float = 100.0  # CroCo's RoPE100
    # global: every block attends to all tokens (Win-Win). vitdet: the ViTDet / SAM baseline (paper Tables 2, 4):
    # blocks attend inside vitdet_window x vitdet_window token windows of the full grid, except
    # vitdet_global_blocks evenly spaced global ones (the last included; 12 blocks, 4 -> 2, 5, 8, 11). Full images only
    attention: str = "global"
    vitdet_window: int = 14
    vitdet_global_blocks: int = 4
    # binocular (two frames, CroCo-Flow): a Siamese encoder, then a decoder with cross-attention to frame 2
    binocular: bool = False
    decoder_dim: int = 512  # binocular: decoder width (CroCo v2's small decoder; the base decoder is 768)
    decoder_depth: int = 8
    decoder_heads: int = 16
    norm_memory: bool = True  # binocular: norm frame 2's tokens before each cross-attention (CroCo's default)
    head: str = "convnext"  # linear | convnext | dpt
    out_channels: int = 19  # channels of the dense output (the task decides: classes, 1 for log depth, ...)
    head_width: int = 96  # ConvNeXt head: channels of its feature map
    head_depth: int = 2  # ConvNeXt blocks
    # DPT: 4 encoder blocks; None = evenly spaced, last one = final. Binocular: 4 indices into
    # [encoder output, decoder block 0, ..., decoder block L-1]; None = CroCo-Flow's [0, L/2, 7L/8, L]
    dpt_layers: list[int] | None = None
    dpt_features: int = 64
    # padding of the heads' spatial convolutions: zeros, or replicate (a window's border then looks like its
    # interior, so a head trained on small windows sees less of a change on the full map; docs/results.md)
    head_padding: str = "zeros"
    # DINOv3's ViT (winwin.models.dinov3; the dinov3_* archs set all of these): a class token and storage
    # (register) tokens in front of the patches, without a position; layer scale on both residual branches (its
    # initial value); LayerNorm eps; keys without bias; RoPE coordinates normalised to (-1, 1) by the full image's
    # grid (per axis) and DINOv3's channel layout; the final norm on every layer a head reads
    class_token: bool = False
    storage_tokens: int = 0
    layer_scale: float | None = None
    norm_eps: float = 1e-6
    key_bias: bool = True
    rope_coords: str = "index"  # index (CroCo: integer grid positions) | normalized (DINOv3)
    rope_layout: str = "croco"  # croco (y half, x half) | dinov3 (rotate-half over D, y / x quarters alternating)
    norm_layers: bool = False
    temperature: float = 1.0  # attention scale multiplier at full resolution, every layer (`winwin calibrate --sweep`)
    # learned per-head multipliers, one row per attention layer (`winwin calibrate --learn`); replace `temperature`
    head_temperatures: list[list[float]] | None = field(default=None)

    def validate(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"model.head must be one of {HEADS}, got {self.head!r}")
        if self.head_padding not in ("zeros", "replicate"):
            raise ValueError(f"model.head_padding must be zeros or replicate, got {self.head_padding!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"model.embed_dim {self.embed_dim} must be divisible by model.num_heads {self.num_heads}")
        if self.pos_embed not in POS_EMBEDS:
            raise ValueError(f"model.pos_embed must be one of {POS_EMBEDS}, got {self.pos_embed!r}")
        head_dim = self.embed_dim // self.num_heads
        if "rope" in self.pos_embed and head_dim % 4:
            raise ValueError(f"RoPE ({self.pos_embed}) needs a head dimension divisible by 4, got {head_dim}")
        if self.patch_size < 1 or self.depth < 1 or self.out_channels < 1:
            raise ValueError("model.patch_size, model.depth and model.out_channels must be positive")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"model.attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.vitdet_window < 1:
            raise ValueError(f"model.vitdet_window must be >= 1 (tokens per window side), got {self.vitdet_window}")
        if self.attention == "vitdet" and not 1 <= self.vitdet_global_blocks <= self.depth:
            raise ValueError(
                f"model.vitdet_global_blocks must be in [1, model.depth={self.depth}] (evenly spaced, the last block "
                f"included; model.depth makes every block global), got {self.vitdet_global_blocks}"
            )
        if self.rope_coords not in ROPE_COORDS or self.rope_layout not in ROPE_LAYOUTS:
            raise ValueError(
                f"model.rope_coords must be one of {ROPE_COORDS} and model.rope_layout one of {ROPE_LAYOUTS}, "
                f"got {self.rope_coords!r}, {self.rope_layout!r}"
            )
        bad_scale = self.layer_scale is not None and not self.layer_scale > 0
        if self.storage_tokens < 0 or not self.norm_eps > 0 or bad_scale:
            raise ValueError(
                f"model.storage_tokens must be >= 0, model.norm_eps > 0 and model.layer_scale > 0 or null, got "
                f"{self.storage_tokens}, {self.norm_eps}, {self.layer_scale}"
            )
        if (self.class_token or self.storage_tokens) and (self.attention != "global" or self.pos_embed == "rope_mixed"):
            raise ValueError(
                f"class / storage tokens (model.class_token, model.storage_tokens) need model.attention=global and "
                f"model.pos_embed rope, cosine, rope+cosine or none, got {self.attention!r}, {self.pos_embed!r}"
            )
        if not self.temperature > 0:
            raise ValueError(f"model.temperature must be > 0, got {self.temperature}")
        if self.head_temperatures is not None and not all(v > 0 for row in self.head_temperatures for v in row):
            raise ValueError(f"model.head_temperatures must all be > 0, got {self.head_temperatures}")
        if self.binocular:
            dinov3 = {"class_token": self.class_token, "storage_tokens": self.storage_tokens,
                      "rope_coords": self.rope_coords, "rope_layout": self.rope_layout}  # fmt: skip
            if dinov3 != {"class_token": False, "storage_tokens": 0, "rope_coords": "index", "rope_layout": "croco"}:
                raise ValueError(
                    f"a binocular model (CroCo-Flow) has no class / storage tokens and CroCo's RoPE (index, croco), "
                    f"got {dinov3}; DINOv3 encoders are for monocular models"
                )
            if self.pos_embed == "rope_mixed":
                raise ValueError(
                    "model.pos_embed=rope_mixed is for monocular models only; a binocular model (its decoder, CroCo "
                    "files) supports rope, cosine, rope+cosine or none"
                )
            if self.decoder_depth < 1 or self.decoder_dim % self.decoder_heads:
                raise ValueError(
                    f"a binocular model needs model.decoder_depth >= 1 and model.decoder_dim divisible by "
                    f"model.decoder_heads, got depth {self.decoder_depth}, dim {self.decoder_dim}, "
                    f"heads {self.decoder_heads}"
                )
            dec_head_dim = self.decoder_dim // self.decoder_heads
            if "rope" in self.pos_embed and dec_head_dim % 4:
                raise ValueError(f"RoPE2D needs a decoder head dimension divisible by 4, got {dec_head_dim}")
        n = self.decoder_depth + 1 if self.binocular else self.depth  # layers the DPT head can read
        if self.dpt_layers is not None and (len(self.dpt_layers) != 4 or not all(-n <= i < n for i in self.dpt_layers)):
            what = "indices into [encoder output, decoder blocks]" if self.binocular else "block indices"
            raise ValueError(f"model.dpt_layers must be 4 {what} in [0, {n}), got {self.dpt_layers}")

    def resolved_dpt_layers(self) -> list[int]:
        if self.dpt_layers is not None:
            return list(self.dpt_layers)
        if self.binocular:  # CroCo-Flow's hooks: the encoder output, then decoder blocks at 1/2, 7/8 and the end
            d = self.decoder_depth
            return [0, d * 4 // 8, d * 7 // 8, d]
        d = self.depth  # evenly spaced, e.g. [2, 5, 8, 11] for 12 blocks; shallow encoders repeat blocks
        return [max(0, k * d // 4 - 1) for k in (1, 2, 3, 4)]
