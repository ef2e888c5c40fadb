"""Checkpoints: safetensors weights + a JSON file (model config, step, extra), written atomically.

``<stem>.safetensors`` holds the weights, ``<stem>.json`` the config; the optional optimizer state
(``<stem>.optim.pt``) is only ever loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import BadFileError
from ..files import atomic_write, atomic_write_text
from ..models import ModelConfig, build_model
from ..models.config import RENAMED
from ..tasks import DEFAULT_TASK, Task, TaskSettings, task_class


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """Any of ``x``, ``x.safetensors``, ``x.json`` -> (``x.safetensors``, ``x.json``)."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(
    path: str | Path, model: nn.Module, step: int, extra: dict | None = None, optimizer=None, task: Task | None = None
) -> Path:
    """Weights (safetensors), optimizer state and the JSON config: model config, step, the task's settings
    and dataset facts (so the checkpoint alone can predict and evaluate), and ``extra`` entries."""
    weights, meta = checkpoint_paths(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(state, tmp))
    if optimizer is not None:
        atomic_write(weights.with_suffix(".optim.pt"), lambda tmp: torch.save(optimizer.state_dict(), tmp))
    info = {"format": "winwin-checkpoint-1", "model": asdict(model.config), "step": step, **(extra or {})}
    if task is not None:
        info["task"] = {"settings": task.settings_dict(), "info": task.info}
    atomic_write_text(meta, json.dumps(info, indent=2))
    return weights


def read_checkpoint_info(path: str | Path) -> dict:
    weights, meta = checkpoint_paths(path)
    if not weights.exists() or not meta.exists():
        raise FileNotFoundError(f"checkpoint needs both {weights} and {meta}")
    try:
        info = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadFileError(meta, f"not a checkpoint's JSON config ({e})") from None
    if not isinstance(info, dict) or "model" not in info:
        raise BadFileError(meta, "not a winwin checkpoint config (no 'model' entry)")
    return info


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
    d = {RENAMED[k][0] if k in RENAMED else k: v for k, v in d.items()}  # checkpoints of earlier versions
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"checkpoint config has unknown model settings {unknown}")
    return ModelConfig(**d)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model from the JSON config and load the safetensors weights. Returns (model, info).
    A damaged file raises ``BadFileError`` naming it."""
    weights, meta = checkpoint_paths(path)
    info = read_checkpoint_info(path)
    if "pretext" in info:  # written by ``winwin pretrain``: the model plus its pretext head
        why = f"a {info['pretext']} checkpoint, not a trained model"
        todo = f"fine-tune from it with train.init={info.get('croco')}, or resume it with winwin pretrain"
        raise BadFileError(meta, f"{why}: {todo} train.resume=true")
    try:
        model = build_model(model_config_from_dict(info["model"]))
    except (TypeError, ValueError) as e:
        raise BadFileError(meta, f"bad model config ({e})") from None
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError) as e:
        raise BadFileError(weights, f"not a readable safetensors file ({e})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Learned per-head temperatures live in the JSON config (calibration never rewrites the weights file).
    missing = [k for k in missing if not k.endswith(".log_temperature")]
    if missing or unexpected:
        raise BadFileError(weights, f"does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(device), info


def load_optimizer_state(path: str | Path) -> dict | None:
    weights, _ = checkpoint_paths(path)
    optim_path = weights.with_suffix(".optim.pt")
    if not optim_path.exists():
        return None
    return torch.load(optim_path, map_location="cpu", weights_only=True)


def load_task(info: dict) -> Task:
    """The task a checkpoint was trained for, with its dataset facts (checkpoints from before tasks were
    saved belong to the default task)."""
    entry = info.get("task")
    if entry is None:
        return task_class(DEFAULT_TASK).from_legacy_checkpoint(info)
    raw = dict(entry["settings"])
    try:
        cls = task_class(raw.get("name", DEFAULT_TASK))
        settings: TaskSettings = cls.Settings(**cls.saved_settings(raw))
    except (KeyError, TypeError) as e:
        raise BadFileError(info.get("run", "checkpoint"), f"unknown task settings in the checkpoint ({e})") from None
    return cls(settings, entry.get("info"))
