"""Named model configurations and the builder: ``create_model(name, **overrides)``."""

from __future__ import annotations

from dataclasses import asdict, fields, replace

from torch import nn

from .config import ModelConfig
from .encoder import ViTEncoder
from .heads import ConvNeXtHead, DPTHead, LinearHead
from .monocular import MonocularModel
from .temperature import set_head_temperatures, set_temperature

# Encoder sizes: ViT-Tiny/Small/Base (Dosovitskiy et al.; the paper uses Base), plus a CPU-sized "demo".
ARCHS: dict[str, dict] = {
    "demo": dict(embed_dim=128, depth=4, num_heads=4, head_width=48, head_depth=1),
    "tiny": dict(embed_dim=192, depth=12, num_heads=3),
    "small": dict(embed_dim=384, depth=12, num_heads=6),
    "base": dict(embed_dim=768, depth=12, num_heads=12, head_width=128, dpt_features=256),
}


def list_models() -> list[str]:
    return sorted(ARCHS)


def model_config(name: str, **overrides) -> ModelConfig:
    if name not in ARCHS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown model settings {unknown}; known: {sorted(known)}")
    cfg = replace(ModelConfig(arch=name), **ARCHS[name])
    cfg = replace(cfg, **overrides)
    cfg.validate()
    return cfg


def build_model(cfg: ModelConfig) -> MonocularModel:
    cfg.validate()
    encoder = ViTEncoder(
        patch_size=cfg.patch_size,
        in_chans=cfg.in_chans,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        qkv_bias=cfg.qkv_bias,
        drop_path=cfg.drop_path,
        pos_embed=cfg.pos_embed,
        rope_base=cfg.rope_base,
    )
    head: nn.Module
    if cfg.head == "linear":
        head = LinearHead(cfg.embed_dim, cfg.out_channels, cfg.patch_size)
    elif cfg.head == "convnext":
        head = ConvNeXtHead(
            cfg.embed_dim,
            cfg.out_channels,
            cfg.patch_size,
            cfg.head_width,
            cfg.head_depth,
            padding_mode=cfg.head_padding,
        )
    else:
        layers, pad = cfg.resolved_dpt_layers(), cfg.head_padding
        head = DPTHead(cfg.embed_dim, cfg.out_channels, cfg.patch_size, layers, cfg.dpt_features, padding_mode=pad)
    model = MonocularModel(cfg, encoder, head)
    set_temperature(model, cfg.temperature)
    if cfg.head_temperatures is not None:
        set_head_temperatures(model, cfg.head_temperatures)
    return model


def create_model(name: str, **overrides) -> MonocularModel:
    """Build a named model (``list_models()``) with any ``ModelConfig`` field overridden."""
    return build_model(model_config(name, **overrides))


def config_dict(model: MonocularModel) -> dict:
    return asdict(model.config)
