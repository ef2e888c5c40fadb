"""Typed model configuration, saved as JSON next to every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

HEADS = ("linear", "convnext", "dpt")


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
    pos_embed: str = "rope"  # rope | cosine | none
    rope_base: float = 100.0  # CroCo's RoPE100
    head: str = "convnext"  # linear | convnext | dpt
    num_classes: int = 19
    head_dim: int = 96  # ConvNeXt head width
    head_depth: int = 2  # ConvNeXt blocks
    dpt_layers: list[int] | None = None  # DPT: 4 encoder blocks; None = evenly spaced, last one = final
    dpt_features: int = 64
    temperature: float = 1.0  # attention scale multiplier used at full resolution (set by calibration)
    head_temperatures: list[list[float]] | None = field(default=None)  # learned per-head factors, per layer

    def validate(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"model.head must be one of {HEADS}, got {self.head!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"model.embed_dim {self.embed_dim} must be divisible by model.num_heads {self.num_heads}")
        head_dim = self.embed_dim // self.num_heads
        if self.pos_embed == "rope" and head_dim % 4:
            raise ValueError(f"RoPE2D needs a head dimension divisible by 4, got {head_dim}")
        if self.patch_size < 1 or self.depth < 1 or self.num_classes < 1:
            raise ValueError("model.patch_size, model.depth and model.num_classes must be positive")
        if self.temperature <= 0:
            raise ValueError(f"model.temperature must be > 0, got {self.temperature}")
        if self.head == "dpt" and self.depth < 4 and self.dpt_layers is None:
            raise ValueError(f"a DPT head needs 4 encoder layers, the encoder has depth {self.depth}")

    def resolved_dpt_layers(self) -> list[int]:
        if self.dpt_layers is not None:
            return list(self.dpt_layers)
        d = self.depth
        return [d // 4 - 1 if d >= 4 else 0, d // 2 - 1, 3 * d // 4 - 1, d - 1]
