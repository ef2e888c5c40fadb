"""CroCo / CroCo v2 checkpoints (Weinzaepfel et al. 2022, 2023) as winwin models.

A released file is ``{'model': state_dict, 'croco_kwargs': {...}}`` (read with ``weights_only=True``). Sizes
come from the tensors (widths, depths, MLP ratio, patch size) and from ``croco_kwargs`` where tensors cannot
tell (numbers of heads, position embedding). Every key is mapped strictly: a key with no place in winwin, or
a winwin parameter the file does not provide, is an error that lists them. Only the pretraining-only
``mask_token`` and ``prediction_head.*`` are skipped. Names that differ from CroCo's:

    patch_embed.*, enc_blocks.i.*, enc_norm.*       -> encoder.patch_embed.*, encoder.blocks.i.*, encoder.norm.*
    decoder_embed.*, dec_blocks.i.*, dec_norm.*     -> decoder.embed.*, decoder.blocks.i.*, decoder.norm.*
    dec_blocks.i.cross_attn.projq                   -> decoder.blocks.i.cross_attn.q
    dec_blocks.i.cross_attn.projk, .projv           -> decoder.blocks.i.cross_attn.kv (stacked k then v)

Supported: RoPE checkpoints (``pos_embed='RoPE<base>'``, CroCo v2 and CroCo-Flow's pretraining). CroCo v1's
absolute cosine embedding is refused with a clear message (not implemented).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from ..errors import BadFileError, InputError
from .binocular import BinocularModel
from .config import ModelConfig
from .registry import build_model

SKIPPED = re.compile(r"^(mask_token|prediction_head\..*)$")
CROCO_DEFAULTS = {"enc_num_heads": 12, "dec_num_heads": 16, "pos_embed": "cosine"}  # CroCoNet's own defaults


def read_croco(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict and ``croco_kwargs`` of a CroCo checkpoint file (safe load: tensors and plain data)."""
    path = Path(path)
    if not path.is_file():
        raise BadFileError(path, "no such CroCo checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (any unpickling failure means the file is not a usable checkpoint)
        raise BadFileError(path, f"cannot be read as a PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        keys = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise BadFileError(
            path, f"expected a CroCo checkpoint {{'model': state_dict, 'croco_kwargs': ...}}, got {keys}"
        )
    kwargs = ckpt.get("croco_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise BadFileError(path, f"croco_kwargs must be a dict, got {type(kwargs).__name__}")
    return ckpt["model"], kwargs


def _count(state: dict, prefix: str) -> int:
    ids = {int(m.group(1)) for k in state if (m := re.match(rf"{prefix}\.(\d+)\.", k))}
    if ids != set(range(len(ids))):
        raise InputError(f"{prefix} block numbers are not 0..N-1: {sorted(ids)}")
    return len(ids)


def check_keys(mapped: dict[str, torch.Tensor], target: dict[str, torch.Tensor], path: str | Path) -> None:
    """A file's renamed state dict against the model's, strictly: missing, unexpected and mis-shaped keys listed."""
    missing, unexpected = sorted(set(target) - set(mapped)), sorted(set(mapped) - set(target))
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(target[k].shape)}" for k, v in mapped.items()
              if k in target and v.shape != target[k].shape]  # fmt: skip
    if missing or unexpected or shapes:
        detail = f"missing {missing[:10]}, unexpected {unexpected[:10]}, shape mismatches {shapes[:5]}"
        raise BadFileError(path, f"keys do not map: {detail}")


def croco_model_config(state: dict, kwargs: dict, path: str | Path = "checkpoint") -> dict:
    """``ModelConfig`` settings of a CroCo state dict: sizes from the tensors, heads and RoPE from kwargs."""
    kw = {**CROCO_DEFAULTS, **kwargs}
    pos = str(kw["pos_embed"])
    if not pos.startswith("RoPE"):
        raise BadFileError(path, f"pos_embed {pos!r}: only RoPE CroCo checkpoints (CroCo v2) are supported")
    need = ["patch_embed.proj.weight", "enc_blocks.0.mlp.fc1.weight"]
    missing = [k for k in need if k not in state]
    if missing:
        raise BadFileError(path, f"not a CroCo encoder state dict: missing {missing}")
    proj = state["patch_embed.proj.weight"]  # (E, C, p, p)
    embed_dim, in_chans, patch = proj.shape[0], proj.shape[1], proj.shape[-1]
    settings = dict(
        arch="croco",
        patch_size=int(patch),
        in_chans=int(in_chans),
        embed_dim=int(embed_dim),
        depth=_count(state, "enc_blocks"),
        num_heads=int(kw["enc_num_heads"]),
        mlp_ratio=state["enc_blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
        qkv_bias="enc_blocks.0.attn.qkv.bias" in state,
        pos_embed="rope",
        rope_base=float(pos[4:] or 100),
    )
    if "decoder_embed.weight" in state:
        settings.update(
            decoder_dim=int(state["decoder_embed.weight"].shape[0]),
            decoder_depth=_count(state, "dec_blocks"),
            decoder_heads=int(kw["dec_num_heads"]),
            norm_memory="dec_blocks.0.norm_y.weight" in state,
        )
    return settings


def croco_to_winwin(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a CroCo state dict to winwin's names (pretraining-only keys dropped); unknown keys are kept
    under their CroCo name so that loading reports them."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if SKIPPED.match(key):
            continue
        new = re.sub(r"^patch_embed\.", "encoder.patch_embed.", key)
        new = re.sub(r"^enc_blocks\.", "encoder.blocks.", new)
        new = re.sub(r"^enc_norm\.", "encoder.norm.", new)
        new = re.sub(r"^decoder_embed\.", "decoder.embed.", new)
        new = re.sub(r"^dec_blocks\.", "decoder.blocks.", new)
        new = re.sub(r"^dec_norm\.", "decoder.norm.", new)
        new = new.replace(".cross_attn.projq.", ".cross_attn.q.")
        out[new] = value
    for key in [k for k in out if ".cross_attn.projk." in k]:  # k and v projections -> one kv projection
        v_key = key.replace(".projk.", ".projv.")
        if v_key in out:
            out[key.replace(".projk.", ".kv.")] = torch.cat((out.pop(key), out.pop(v_key)))  # (2C, ...)
    return out


def winwin_to_croco(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``croco_to_winwin`` for a binocular model's encoder and decoder (and a cross-view
    completion model's ``mask_token`` / ``prediction_head``): winwin names -> CroCo's."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = re.sub(r"^model\.", "", key)  # a CrossViewCompletion wraps the binocular model
        if new.startswith("head."):
            continue  # the dense head is not part of a CroCo file
        if ".cross_attn.kv." in new:
            k, v = value.chunk(2)
            out[_croco_name(new.replace(".kv.", ".projk."))] = k
            out[_croco_name(new.replace(".kv.", ".projv."))] = v
            continue
        out[_croco_name(new.replace(".cross_attn.q.", ".cross_attn.projq."))] = value
    return out


def _croco_name(key: str) -> str:
    for ours, theirs in [("encoder.patch_embed.", "patch_embed."), ("encoder.blocks.", "enc_blocks."),
                         ("encoder.norm.", "enc_norm."), ("decoder.embed.", "decoder_embed."),
                         ("decoder.blocks.", "dec_blocks."), ("decoder.norm.", "dec_norm.")]:  # fmt: skip
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    return key


def save_croco(path: str | Path, module: nn.Module, config: ModelConfig) -> None:
    """Write a binocular model (or a ``CrossViewCompletion`` around one) as a CroCo v2 file
    ``{'model': state_dict, 'croco_kwargs': ...}``, atomically; ``load_croco`` / ``train.init`` read it."""
    from ..files import atomic_write

    if config.pos_embed != "rope" or not config.binocular:
        raise InputError(
            f"a CroCo file holds a binocular RoPE model, not pos_embed={config.pos_embed!r}, "
            f"binocular={config.binocular}"
        )
    state = {k: v.detach().cpu().contiguous() for k, v in winwin_to_croco(module.state_dict()).items()}
    kwargs = {
        "patch_size": config.patch_size,
        "enc_embed_dim": config.embed_dim,
        "enc_depth": config.depth,
        "enc_num_heads": config.num_heads,
        "dec_embed_dim": config.decoder_dim,
        "dec_depth": config.decoder_depth,
        "dec_num_heads": config.decoder_heads,
        "pos_embed": f"RoPE{config.rope_base:g}",
    }
    atomic_write(path, lambda tmp: torch.save({"model": state, "croco_kwargs": kwargs}, tmp))


def init_from_croco(model: nn.Module, path: str | Path, parts: tuple[str, ...] | None = None) -> list[str]:
    """Load a CroCo file's encoder (and decoder, for a binocular model) into ``model``, strictly: every key
    of those parts must match in name and shape. Returns the parts loaded. Heads stay as they are."""
    state, kwargs = read_croco(path)
    ours = croco_model_config(state, kwargs, path)
    cfg = model.config
    if parts is None:
        parts = ("encoder", "decoder") if isinstance(model, BinocularModel) else ("encoder",)
    checks = ["patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_ratio", "rope_base"]
    if "decoder" in parts:
        if "decoder_dim" not in ours:
            raise BadFileError(path, "has no decoder (decoder_embed.*) to start a binocular model from")
        checks += ["decoder_dim", "decoder_depth", "decoder_heads", "norm_memory"]
    wrong = {k: (ours[k], getattr(cfg, k)) for k in checks if ours[k] != getattr(cfg, k)}
    if wrong:
        detail = ", ".join(f"{k}: file {a} vs model {b}" for k, (a, b) in wrong.items())
        raise InputError(f"{path}: the CroCo checkpoint does not fit the model ({detail}); set these model settings")
    mapped = croco_to_winwin(state)
    if "decoder" not in parts:
        mapped = {k: v for k, v in mapped.items() if not k.startswith("decoder.")}
    target = {k: v for k, v in model.state_dict().items() if k.split(".")[0] in parts}
    check_keys(mapped, target, path)
    model.load_state_dict(mapped, strict=False)
    return list(parts)


def load_croco(path: str | Path, **overrides) -> BinocularModel:
    """A binocular model with a CroCo / CroCo v2 file's encoder and decoder (strict key mapping) and a new
    head (``overrides``: any ``ModelConfig`` field, e.g. ``head``, ``out_channels``; default: DPT, 3
    channels for flow + confidence). ``model.encoder(img)`` -> (tokens after the final norm, (y, x)
    positions, ...); ``model.decoder(enc1, pos1, enc2, pos2)`` -> (tokens after the final norm, ...)."""
    state, kwargs = read_croco(path)
    settings = {"head": "dpt", "out_channels": 3, **croco_model_config(state, kwargs, path), "binocular": True}
    settings.update(overrides)
    cfg = ModelConfig(**settings)
    model = build_model(cfg)
    init_from_croco(model, path)
    return model  # type: ignore[return-value]
