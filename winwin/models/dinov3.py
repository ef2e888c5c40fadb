"""DINOv3 ViT checkpoints (Simeoni et al. 2025, facebookresearch/dinov3) as winwin encoders.

A released file is a flat state dict; the test fixture's is ``{'model': state_dict, 'dinov3_kwargs': {...}}``.
Both are read with ``weights_only=True``. Sizes come from the tensors: width, depth, MLP ratio, patch size and
channels, the class / storage tokens, layer scale, the key-bias mask, and the number of heads from the RoPE
periods (m = head dim / 4 of them; their ratio gives the base). ``dinov3_kwargs``, when present, must agree.
Every key is mapped strictly (missing or unexpected keys are an error that lists them); the names are
DINOv3's inside ``encoder.`` except:

    cls_token, storage_tokens              -> prefix.cls_token, prefix.storage_tokens
    blocks.i.attn.qkv.bias_mask             -> folded into blocks.i.attn.qkv.bias (bias * mask), key_bias=False
    rope_embed.periods                      -> checked against rope_base (recomputed, not stored)
    mask_token, local_cls_norm.*            -> skipped (masked training and local crops only)

Not supported, with a clear error: SwiGLU MLPs (ViT-S+/H+/7B, ``mlp.w1``), untied class / patch norms,
RMSNorm, RoPE given by min / max periods, coordinate normalisations other than "separate". DINOv3's training-time
RoPE augmentations (shift, jitter, rescale of the coordinates) are not applied: fine-tuning uses the plain rule.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from pathlib import Path

import torch
from torch import nn

from ..errors import BadFileError, InputError
from .config import ModelConfig
from .croco import _count, check_keys  # block numbering and the strict key check, shared
from .encoder import ViTEncoder
from .registry import ARCHS, DINOV3, build_encoder

SKIPPED = re.compile(r"^(mask_token|local_cls_norm\..*)$")
UNSUPPORTED = {
    r"\.mlp\.w[123]\.": "a SwiGLU MLP (DINOv3 ViT-S+/H+/7B); only the plain GELU MLP (ViT-S/B/L) is supported",
    r"^(cls_norm|patch_norm)\.": "untied class / patch norms (untie_cls_and_patch_norms)",
}
NORM_EPS = {"layernorm": 1e-6, "layernormbf16": 1e-5}  # DINOv3's norm_layer names -> LayerNorm eps
CHECKED = ("patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias", "class_token",
           "storage_tokens", "key_bias", "norm_eps", "rope_base", "rope_coords", "rope_layout")  # fmt: skip


def read_dinov3(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict and ``dinov3_kwargs`` ({} for a released flat file) of a DINOv3 checkpoint (safe load)."""
    path = Path(path)
    if not path.is_file():
        raise BadFileError(path, "no such DINOv3 checkpoint file")
    try:
        try:  # memory-mapped: a large file is not read twice when its format is sniffed first
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            ckpt = torch.load(path, map_location="cpu", weights_only=True)  # a file in the legacy format
    except Exception as e:  # noqa: BLE001 (any unpickling failure means the file is not a usable checkpoint)
        raise BadFileError(path, f"cannot be read as a PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict):
        state, kwargs = ckpt["model"], ckpt.get("dinov3_kwargs") or {}
    else:
        state, kwargs = ckpt, {}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadFileError(path, "expected a DINOv3 state dict (names -> tensors) or {'model': state_dict, ...}")
    if not isinstance(kwargs, dict):
        raise BadFileError(path, f"dinov3_kwargs must be a dict, got {type(kwargs).__name__}")
    return state, kwargs


def _rope_base(periods: torch.Tensor, said: float | None, path: Path | str) -> float:
    """The base of periods p_i = base^(i/m), checked for every i. Periods stored in 16 bits cannot give the base
    exactly: then it is the kwargs' (else DINOv3's 100), checked to 16-bit precision."""
    m = periods.numel()
    low = periods.dtype in (torch.bfloat16, torch.float16)
    base = float(said or 100.0) if low or m < 2 else float(f"{float(periods[1]) ** m:.5g}")  # 99.99998 -> 100
    want = base ** (torch.arange(m, dtype=torch.float64) / m)
    if not torch.allclose(periods.double(), want, rtol=1e-2 if low else 1e-4):
        raise BadFileError(path, f"rope_embed.periods {periods.tolist()} are not base^(i/m) (min / max period RoPE "
                                 "is not supported)")  # fmt: skip
    return base


def dinov3_model_config(state: dict, kwargs: dict, path: str | Path = "checkpoint") -> dict:
    """``ModelConfig`` settings of a DINOv3 state dict (sizes from the tensors); errors on what is unsupported."""
    for pattern, what in UNSUPPORTED.items():
        if any(re.search(pattern, k) for k in state):
            raise BadFileError(path, f"has {what}; not supported")
    need = ["patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.mlp.fc1.weight", "norm.weight"]
    missing = [k for k in need if k not in state]
    if missing:
        raise BadFileError(path, f"not a DINOv3 ViT state dict: missing {missing} (found e.g. {sorted(state)[:5]})")
    for key, allowed in (("pos_embed_rope_normalize_coords", ("separate",)), ("ffn_layer", ("mlp",)),
                         ("norm_layer", tuple(NORM_EPS)), ("pos_embed_rope_min_period", (None,)),
                         ("untie_cls_and_patch_norms", (False,))):  # fmt: skip
        if key in kwargs and kwargs[key] not in allowed:
            raise BadFileError(path, f"dinov3_kwargs {key}={kwargs[key]!r} is not supported (supported: {allowed})")
    proj = state["patch_embed.proj.weight"]  # (D, C, p, p)
    dim = int(proj.shape[0])
    if "rope_embed.periods" in state:
        periods = state["rope_embed.periods"]  # (head_dim / 4,)
        if dim % (4 * periods.numel()):
            raise BadFileError(path, f"{periods.numel()} RoPE periods do not divide the width {dim} into heads")
        heads, base = dim // (4 * periods.numel()), _rope_base(periods, kwargs.get("pos_embed_rope_base"), path)
    else:  # DINOv3's ViTs have 64 channels per head (ViT-7B: 128), base 100
        heads, base = int(kwargs.get("num_heads", dim // 64)), float(kwargs.get("pos_embed_rope_base", 100.0))
    storage = state.get("storage_tokens")
    settings = dict(
        DINOV3,
        arch="dinov3",
        patch_size=int(proj.shape[-1]),
        in_chans=int(proj.shape[1]),
        embed_dim=dim,
        depth=_count(state, "blocks"),
        num_heads=heads,
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / dim,
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        class_token="cls_token" in state,
        storage_tokens=0 if storage is None else int(storage.shape[1]),
        layer_scale=DINOV3["layer_scale"] if "blocks.0.ls1.gamma" in state else None,
        key_bias="blocks.0.attn.qkv.bias_mask" not in state,
        norm_eps=NORM_EPS[kwargs.get("norm_layer", "layernormbf16")],
        rope_base=base,
    )
    names = {"num_heads": "num_heads", "depth": "depth", "embed_dim": "embed_dim", "storage_tokens": "n_storage_tokens",
             "rope_base": "pos_embed_rope_base"}  # fmt: skip
    said = {ours: kwargs.get(theirs) for ours, theirs in names.items()}
    wrong = {k: (v, settings[k]) for k, v in said.items() if v is not None and v != settings[k]}
    if wrong:
        raise BadFileError(path, f"dinov3_kwargs disagree with the tensors (kwargs, tensors): {wrong}")
    return settings


def dinov3_to_winwin(state: dict[str, torch.Tensor], path: str | Path = "checkpoint") -> dict[str, torch.Tensor]:
    """DINOv3 names -> the encoder's (see the module docstring); the key-bias mask folded into the bias."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if SKIPPED.match(key) or key == "rope_embed.periods" or key.endswith(".qkv.bias_mask"):
            continue
        if key.endswith(".qkv.bias") and key + "_mask" in state:
            mask = state[key + "_mask"]  # (3D,): 1 for q and v, 0 for k (released files: all 0)
            if mask[mask.numel() // 3 : 2 * mask.numel() // 3].any():
                raise BadFileError(path, f"{key}_mask lets a key bias through; DINOv3's mask_k_bias never does")
            value = value * mask
        out[re.sub(r"^(cls_token|storage_tokens)$", r"prefix.\1", key)] = value
    return out


def winwin_to_dinov3(encoder: ViTEncoder) -> dict[str, torch.Tensor]:
    """The inverse of ``dinov3_to_winwin`` for a DINOv3-layout encoder: DINOv3's names, buffers included, and a
    zero ``mask_token`` (masked pretraining only), so that DINOv3's own code loads the file strictly."""
    out = {re.sub(r"^prefix\.", "", k): v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    out["mask_token"] = torch.zeros(1, encoder.embed_dim)
    m = encoder.head_dim // 4
    out["rope_embed.periods"] = encoder.rope.base ** (torch.arange(m, dtype=torch.float32) / m)
    for i, block in enumerate(encoder.blocks):
        if not block.attn.key_bias:
            mask = torch.ones(3, encoder.embed_dim)
            mask[1] = 0
            out[f"blocks.{i}.attn.qkv.bias_mask"] = mask.flatten()  # (3D,)
    return out


def save_dinov3(path: str | Path, encoder: ViTEncoder, config: ModelConfig) -> None:
    """Write an encoder with DINOv3's layout as ``{'model': state_dict, 'dinov3_kwargs': ...}``, atomically."""
    from ..files import atomic_write

    layout = {k: getattr(config, k) for k in ("class_token", "rope_coords", "rope_layout", "norm_layers")}
    if layout != {k: DINOV3[k] for k in layout} or config.pos_embed != "rope" or config.attention != "global":
        raise InputError(f"a DINOv3 file holds a DINOv3-layout encoder (a dinov3_* arch), got {layout}, "
                         f"pos_embed={config.pos_embed!r}, attention={config.attention!r}")  # fmt: skip
    kwargs = {"patch_size": config.patch_size, "in_chans": config.in_chans, "embed_dim": config.embed_dim,
              "depth": config.depth, "num_heads": config.num_heads, "ffn_ratio": config.mlp_ratio,
              "n_storage_tokens": config.storage_tokens, "pos_embed_rope_base": config.rope_base,
              "pos_embed_rope_normalize_coords": "separate", "ffn_layer": "mlp", "qkv_bias": config.qkv_bias,
              "mask_k_bias": not config.key_bias,
              "norm_layer": next(k for k, v in NORM_EPS.items() if v == config.norm_eps)}  # fmt: skip
    state = winwin_to_dinov3(encoder)
    atomic_write(path, lambda tmp: torch.save({"model": state, "dinov3_kwargs": kwargs}, tmp))


def _load_encoder(encoder: ViTEncoder, state: dict, path: str | Path) -> None:
    mapped = dinov3_to_winwin(state, path)
    check_keys(mapped, encoder.state_dict(), path)
    encoder.load_state_dict(mapped)


def load_dinov3(path: str | Path, **overrides) -> ViTEncoder:
    """A winwin encoder computing what DINOv3 computes with a checkpoint's weights (strict key mapping).

    ``encoder(img)`` -> (normed patch tokens (B, N, D), their (y, x) positions (B, N, 2), layers);
    ``encoder.tokens(img)`` adds the normed class token (``.cls``, (B, D)) and storage tokens (``.storage``,
    (B, S, D)). ``overrides``: ``ModelConfig`` fields of the encoder (e.g. ``drop_path``)."""
    state, kwargs = read_dinov3(path)
    cfg = ModelConfig(**{**dinov3_model_config(state, kwargs, path), **overrides})
    cfg.validate()
    encoder = build_encoder(cfg)
    _load_encoder(encoder, state, path)
    return encoder


def init_from_dinov3(model: nn.Module, path: str | Path) -> list[str]:
    """Load a DINOv3 file into ``model.encoder``, strictly; the model's settings must be the file's (an error
    names those that differ and the arch that fits). Returns the parts loaded."""
    state, kwargs = read_dinov3(path)
    ours = dinov3_model_config(state, kwargs, path)
    cfg = model.config
    wrong = {k: (ours[k], getattr(cfg, k)) for k in CHECKED if not _same(ours[k], getattr(cfg, k))}
    if (cfg.layer_scale is None) != (ours["layer_scale"] is None):
        wrong["layer_scale"] = (ours["layer_scale"], cfg.layer_scale)
    if wrong:
        detail = ", ".join(f"{k}: file {a} vs model {b}" for k, (a, b) in wrong.items())
        fits = [n for n, a in ARCHS.items() if all(_same(a.get(k, _default(k)), ours[k]) for k in CHECKED)]
        hint = f"model.arch={fits[0]}" if fits else "these model settings"
        raise InputError(f"{path}: the DINOv3 checkpoint does not fit the model ({detail}); set {hint}")
    _load_encoder(model.encoder, state, path)
    return ["encoder"]


def _same(a, b) -> bool:
    return math.isclose(a, b, rel_tol=1e-6) if isinstance(a, float) or isinstance(b, float) else a == b


def _default(name: str):
    return next(f.default for f in fields(ModelConfig) if f.name == name)
