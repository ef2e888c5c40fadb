"""Checkpoints: safetensors weights + a JSON file (model config, step, extra), written atomically.

``<stem>.safetensors`` holds the weights, ``<stem>.json`` the config; the optional optimizer state
(``<stem>.optim.pt``) is only ever loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..models import DenseModel, ModelConfig, build_model


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """Any of ``x``, ``x.safetensors``, ``x.json`` -> (``x.safetensors``, ``x.json``)."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(path: str | Path, model: DenseModel, step: int, extra: dict | None = None, optimizer=None) -> Path:
    weights, meta = checkpoint_paths(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(state, tmp))
    if optimizer is not None:
        atomic_write(weights.with_suffix(".optim.pt"), lambda tmp: torch.save(optimizer.state_dict(), tmp))
    info = {"format": "winwin-checkpoint-1", "model": asdict(model.config), "step": step, **(extra or {})}
    atomic_write_text(meta, json.dumps(info, indent=2))
    return weights


def read_checkpoint_info(path: str | Path) -> dict:
    weights, meta = checkpoint_paths(path)
    if not weights.exists() or not meta.exists():
        raise FileNotFoundError(f"checkpoint needs both {weights} and {meta}")
    return json.loads(meta.read_text())


def update_checkpoint_info(path: str | Path, model_config: ModelConfig, **entries) -> dict:
    """Rewrite a checkpoint's JSON (atomically) with a new model config and extra entries; the weights
    file is left untouched. Returns the new info."""
    _, meta = checkpoint_paths(path)
    info = read_checkpoint_info(path)
    info["model"] = asdict(model_config)
    info.update(entries)
    atomic_write_text(meta, json.dumps(info, indent=2))
    return info


def model_config_from_dict(d: dict) -> ModelConfig:
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"checkpoint config has unknown model settings {unknown}")
    return ModelConfig(**d)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[DenseModel, dict]:
    """Rebuild the model from the JSON config and load the safetensors weights. Returns (model, info)."""
    weights, _ = checkpoint_paths(path)
    info = read_checkpoint_info(path)
    model = build_model(model_config_from_dict(info["model"]))
    state = load_file(str(weights), device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Learned per-head temperatures live in the JSON config (calibration never rewrites the weights file).
    missing = [k for k in missing if not k.endswith(".log_temperature")]
    if missing or unexpected:
        raise ValueError(f"checkpoint {weights} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(device), info


def load_optimizer_state(path: str | Path) -> dict | None:
    weights, _ = checkpoint_paths(path)
    optim_path = weights.with_suffix(".optim.pt")
    if not optim_path.exists():
        return None
    return torch.load(optim_path, map_location="cpu", weights_only=True)
