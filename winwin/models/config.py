"""Typed model configuration, saved as JSON next to every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

HEADS = ("linear", "convnext", "dpt")

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
    pos_embed: str = "rope"  # rope | cosine | none
    rope_base: float = 100.0  # CroCo's RoPE100
    head: str = "convnext"  # linear | convnext | dpt
    out_channels: int = 19  # channels of the dense output (the task decides: classes, 1 for log depth, ...)
    head_width: int = 96  # ConvNeXt head: channels of its feature map
    head_depth: int = 2  # ConvNeXt blocks
    dpt_layers: list[int] | None = None  # DPT: 4 encoder blocks; None = evenly spaced, last one = final
    dpt_features: int = 64
    # padding of the heads' spatial convolutions: zeros, or replicate (a window's border then looks like its
    # interior, so a head trained on small windows sees less of a change on the full map; docs/results.md)
    head_padding: str = "zeros"
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
        head_dim = self.embed_dim // self.num_heads
        if self.pos_embed == "rope" and head_dim % 4:
            raise ValueError(f"RoPE2D needs a head dimension divisible by 4, got {head_dim}")
        if self.patch_size < 1 or self.depth < 1 or self.out_channels < 1:
            raise ValueError("model.patch_size, model.depth and model.out_channels must be positive")
        if not self.temperature > 0:
            raise ValueError(f"model.temperature must be > 0, got {self.temperature}")
        if self.head_temperatures is not None and not all(v > 0 for row in self.head_temperatures for v in row):
            raise ValueError(f"model.head_temperatures must all be > 0, got {self.head_temperatures}")
        if self.dpt_layers is not None and (
            len(self.dpt_layers) != 4 or not all(-self.depth <= i < self.depth for i in self.dpt_layers)
        ):
            raise ValueError(f"model.dpt_layers must be 4 block indices in [0, {self.depth}), got {self.dpt_layers}")

    def resolved_dpt_layers(self) -> list[int]:
        if self.dpt_layers is not None:
            return list(self.dpt_layers)
        d = self.depth  # evenly spaced, e.g. [2, 5, 8, 11] for 12 blocks; shallow encoders repeat blocks
        return [max(0, k * d // 4 - 1) for k in (1, 2, 3, 4)]
