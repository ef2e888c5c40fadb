"""Named model configurations and the builder: ``create_model(name, **overrides)``."""

from __future__ import annotations

from dataclasses import asdict, fields, replace

from torch import nn

from .binocular import BinocularModel
from .config import ModelConfig
from .decoder import CrossDecoder
from .encoder import ViTEncoder
from .heads import ConvNeXtHead, DPTHead, LinearHead
from .monocular import MonocularModel
from .temperature import set_head_temperatures, set_temperature

# DINOv3's ViT layout (Simeoni et al. 2025; its hub factories for ViT-S/16, B/16, L/16): class token, 4 storage
# tokens, layer scale, LayerNorm eps 1e-5, keys without bias, RoPE base 100 on coordinates normalised by the grid
# in DINOv3's channel layout, normed intermediate layers. Start from a released file with train.init.
DINOV3 = dict(
    class_token=True,
    storage_tokens=4,
    layer_scale=1e-5,
    norm_eps=1e-5,
    key_bias=False,
    rope_base=100.0,
    rope_coords="normalized",
    rope_layout="dinov3",
    norm_layers=True,
)

# Encoder sizes: ViT-Tiny/Small/Base (Dosovitskiy et al.; the paper uses Base), plus a CPU-sized "demo"; DINOv3's
# S/B/L, and "dinov3_demo", the size of the DINOv3 test fixture (width 64, 2 blocks, 4 heads).
ARCHS: dict[str, dict] = {
    "demo": dict(
        embed_dim=128,
        depth=4,
        num_heads=4,
        head_width=48,
        head_depth=1,
        decoder_dim=128,
        decoder_depth=2,
        decoder_heads=4,
    ),
    "tiny": dict(embed_dim=192, depth=12, num_heads=3, decoder_dim=192, decoder_depth=4, decoder_heads=3),
    "small": dict(embed_dim=384, depth=12, num_heads=6, decoder_dim=384, decoder_depth=8, decoder_heads=6),
    # the paper's flow model: CroCo-Flow with a ViT-Base encoder and a ViT-Base decoder (App. E.2)
    "base": dict(
        embed_dim=768,
        depth=12,
        num_heads=12,
        head_width=128,
        dpt_features=256,
        decoder_dim=768,
        decoder_depth=12,
        decoder_heads=12,
    ),
    "dinov3_demo": dict(DINOV3, embed_dim=64, depth=2, num_heads=4, head_width=48, head_depth=1),
    "dinov3_vits16": dict(DINOV3, embed_dim=384, depth=12, num_heads=6),
    "dinov3_vitb16": dict(DINOV3, embed_dim=768, depth=12, num_heads=12, head_width=128, dpt_features=256),
    "dinov3_vitl16": dict(DINOV3, embed_dim=1024, depth=24, num_heads=16, head_width=128, dpt_features=256),
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


def build_encoder(cfg: ModelConfig) -> ViTEncoder:
    return ViTEncoder(
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
        attention=cfg.attention,
        vitdet_window=cfg.vitdet_window,
        vitdet_global_blocks=cfg.vitdet_global_blocks,
        class_token=cfg.class_token,
        storage_tokens=cfg.storage_tokens,
        layer_scale=cfg.layer_scale,
        norm_eps=cfg.norm_eps,
        key_bias=cfg.key_bias,
        rope_coords=cfg.rope_coords,
        rope_layout=cfg.rope_layout,
        norm_layers=cfg.norm_layers,
    )


def build_decoder(cfg: ModelConfig) -> CrossDecoder:
    return CrossDecoder(
        cfg.embed_dim,
        cfg.decoder_dim,
        cfg.decoder_depth,
        cfg.decoder_heads,
        cfg.mlp_ratio,
        cfg.qkv_bias,
        cfg.drop_path,
        rope_base=cfg.rope_base if "rope" in cfg.pos_embed else None,
        norm_memory=cfg.norm_memory,
    )


def build_head(cfg: ModelConfig) -> nn.Module:
    """The dense head; a binocular model's reads the encoder output and decoder layers (``dpt_layers``)."""
    width = cfg.decoder_dim if cfg.binocular else cfg.embed_dim  # width of the last features
    if cfg.head == "linear":
        return LinearHead(width, cfg.out_channels, cfg.patch_size)
    if cfg.head == "convnext":
        return ConvNeXtHead(
            width, cfg.out_channels, cfg.patch_size, cfg.head_width, cfg.head_depth, padding_mode=cfg.head_padding
        )
    layers, pad = cfg.resolved_dpt_layers(), cfg.head_padding
    dims = [cfg.embed_dim if cfg.binocular and i % (cfg.decoder_depth + 1) == 0 else width for i in layers]
    return DPTHead(dims, cfg.out_channels, cfg.patch_size, layers, cfg.dpt_features, padding_mode=pad)


def build_model(cfg: ModelConfig) -> MonocularModel | BinocularModel:
    """The model a config describes: monocular, or binocular (``cfg.binocular``: encoder + decoder + head)."""
    cfg.validate()
    model: MonocularModel | BinocularModel
    if cfg.binocular:
        model = BinocularModel(cfg, build_encoder(cfg), build_decoder(cfg), build_head(cfg))
    else:
        model = MonocularModel(cfg, build_encoder(cfg), build_head(cfg))
    set_temperature(model, cfg.temperature)
    if cfg.head_temperatures is not None:
        set_head_temperatures(model, cfg.head_temperatures)
    return model


def create_model(name: str, **overrides) -> MonocularModel | BinocularModel:
    """Build a named model (``list_models()``) with any ``ModelConfig`` field overridden."""
    return build_model(model_config(name, **overrides))


def config_dict(model: nn.Module) -> dict:
    return asdict(model.config)
