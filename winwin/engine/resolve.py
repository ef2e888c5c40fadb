"""Find the checkpoint and experiment config behind a run folder or a checkpoint path."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import checkpoint_paths, read_checkpoint_info
from .config import ExperimentConfig, load_config


def resolve_run(
    run_or_ckpt: str | Path, config: str | Path | None = None, overrides: list[str] | None = None
) -> tuple[Path, ExperimentConfig | None]:
    """A run folder -> (its last checkpoint, its config.yaml); a checkpoint -> (it, the config of the run
    it came from, when that folder still exists). ``config`` forces the experiment config; ``overrides``
    (dotted key=value) change it, e.g. to evaluate on another dataset."""
    path = Path(run_or_ckpt)
    if path.is_dir():
        ckpt = path / "checkpoints" / "last"
        cfg_path = path / "config.yaml"
    else:
        ckpt = path
        info = read_checkpoint_info(path)
        cfg_path = Path(info["run"]) / "config.yaml" if "run" in info else None
    weights, meta = checkpoint_paths(ckpt)
    if not weights.exists() or not meta.exists():
        raise FileNotFoundError(
            f"no checkpoint at {weights} (+ {meta.name}); is {run_or_ckpt} a run folder or a checkpoint?"
        )
    if config is not None:
        return ckpt, load_config(config, overrides or [])
    if cfg_path is not None and cfg_path.exists():
        return ckpt, load_config(cfg_path, overrides or [])
    return ckpt, None
