"""Where a training run starts: fresh (optionally from pretrained weights) or from the run's newest good
checkpoint, with the optimiser state and the step. The data position and the random streams need nothing
more: they are derived from the seed and the step (``stream``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..errors import BadFileError
from ..models import build_model, init_from_file
from .checkpoint import load_checkpoint, load_optimizer_state
from .config import ExperimentConfig
from .optim import build_optimizer
from .train_checkpoints import CheckpointStore, model_path


def _optimizer(model: nn.Module, cfg: ExperimentConfig) -> torch.optim.Optimizer:
    o = cfg.optim
    return build_optimizer(model, o.lr, o.weight_decay, o.layer_decay, tuple(o.betas))


def newest_good(store: CheckpointStore, resume: bool, report: Callable[[str], None] = print) -> tuple | None:
    """(step folder, state) of the newest checkpoint that verifies when ``resume``, else None; refuses a store
    whose step checkpoints are all damaged (a damaged one is reported and the one before it used)."""
    found = store.latest(report=report) if resume else None
    if found is None and resume and store.steps():
        raise BadFileError(
            store.folder,
            "train.resume=true, but every step checkpoint here is damaged (see above); move them "
            "away to train this run from the start",
        )
    return found


def restore(
    cfg: ExperimentConfig, store: CheckpointStore, device: torch.device, report: Callable[[str], None] = print
) -> tuple[nn.Module, torch.optim.Optimizer, dict]:
    """(model, optimizer, state) to train from; ``state["step"]`` is the first step to run (0 when fresh).
    With ``train.resume``, the newest checkpoint of ``store`` that verifies (a damaged one is reported and
    the one before it used); without a usable checkpoint the run starts fresh, from ``train.init`` if set."""
    t = cfg.train
    found = newest_good(store, t.resume, report)
    if found is None and t.resume:
        legacy = _legacy(store.folder / "last", cfg, device, report)
        if legacy is not None:
            return legacy
    if found is None:
        model = build_model(cfg.model)
        if t.init is not None:
            report(f"{' and '.join(init_from_file(model, t.init))} from {t.init}")
        model = model.to(device)
        return model, _optimizer(model, cfg), {"step": 0}
    folder, state = found
    model, _ = load_checkpoint(model_path(folder), device)
    optimizer = _optimizer(model, cfg)
    optimizer.load_state_dict(load_optimizer_state(model_path(folder)))
    report(f"resuming from {folder} (step {state['step']})")
    return model, optimizer, state


def _legacy(stem: Path, cfg: ExperimentConfig, device: torch.device, report: Callable[[str], None]):
    """A run folder of an earlier winwin (``checkpoints/last.*`` only): weights, optimiser and step."""
    if not stem.with_suffix(".json").exists():
        return None
    model, info = load_checkpoint(stem, device)
    optimizer = _optimizer(model, cfg)
    optim_state = load_optimizer_state(stem)
    if optim_state is not None:
        optimizer.load_state_dict(optim_state)
    report(
        f"resuming {stem} (step {info['step']}) written by an earlier winwin: weights, optimiser and step "
        "restored; its data order and random streams were not recorded, so this is not an exact resume"
    )
    return model, optimizer, {"step": int(info["step"])}
