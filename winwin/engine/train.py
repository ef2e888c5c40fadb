"""The training loop of every task: window batches (or crops, or full images), AdamW, warm-up + cosine,
checkpoints, a final full-resolution evaluation and a short report in the run folder.

One process or many under ``torchrun`` (data parallel: each process trains on its share of the global
batch; only the main one writes files). The step is the whole state of the data order and the random
streams (``stream``), so ``train.resume`` continues exactly where the newest good checkpoint left off."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader, Dataset

from ..files import atomic_write_text
from ..tasks import Task, build_task
from .config import ConfigError, ExperimentConfig, dump_config, to_dict
from .distributed import (
    Dist,
    broadcast,
    init_distributed,
    shutdown,
    wrap,
)
from .loop import Loop, Meter
from .report import write_report
from .resume import restore
from .run_log import RunLog
from .runtime import setup_runtime
from .step import loss_function
from .stream import StepBatches, StepSource
from .threads import loader_workers, unregister
from .train_checkpoints import CheckpointStore


def build_split(
    task: Task, cfg: ExperimentConfig, split: str, *, train: bool, augment: bool = False, cache: bool = False
) -> Dataset:
    """One split of the experiment's dataset (the training split's sizes when ``train``)."""
    try:
        return task.build_dataset(cfg.data, split, train=train, augment=augment, cache=cache)
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(f"data: {e}") from None


def build_datasets(task: Task, cfg: ExperimentConfig) -> tuple[Dataset, Dataset]:
    """(train, val) datasets of the experiment; synthetic data is generated, real data read from data.root."""
    # Cached synthetic training set: generated once, then each epoch costs only the normalisation (FINDINGS:
    # keep data generation off the critical path).
    return (
        build_split(task, cfg, cfg.data.train_split, train=True, augment=True, cache=True),
        build_split(task, cfg, cfg.data.val_split, train=False),
    )


def check_against_data(cfg: ExperimentConfig, task: Task, train_set: Dataset) -> tuple[int, int]:
    """Dataset-dependent checks, before any training work: the task reads (and checks) what it needs
    to know of its dataset and the windows must fit the token grid. Returns the training token grid."""
    try:
        task.bind(train_set)
    except ValueError as e:
        raise ConfigError(f"task: {e} (dataset {cfg.data.name!r})") from None
    H, W = task.target({k: v[None] if isinstance(v, torch.Tensor) else v for k, v in train_set[0].items()}).shape[-2:]
    p = cfg.model.patch_size
    grid = (-(-H // p), -(-W // p))
    try:
        cfg.windows.validate(grid)
        task.check_windows(cfg.windows, grid)
    except ValueError as e:
        raise ConfigError(
            f"windows: {e} (training images are {H}x{W} px = {grid[0]}x{grid[1]} tokens of {p} px)"
        ) from None
    return grid


def make_run_dir(cfg: ExperimentConfig) -> Path:
    base = Path(cfg.out_dir) / cfg.name
    if cfg.train.resume:
        return base
    run_dir, k = base, 1
    while run_dir.exists():
        run_dir, k = Path(f"{base}-{k}"), k + 1
    return run_dir


def start_run_dir(cfg: ExperimentConfig, d: Dist, say: Callable[[str], None] = print) -> Path:
    """The run folder (chosen by the main process, shared with the others), with the merged config saved;
    a resumed run whose config changed says what changed."""
    run_dir = broadcast(make_run_dir(cfg) if d.main else None, d)
    if d.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        saved = run_dir / "config.yaml"
        if cfg.train.resume and saved.exists():
            changed = _changed(yaml.safe_load(saved.read_text()), to_dict(cfg))
            if changed:
                say(f"resuming {run_dir} with settings that differ from its config.yaml: {', '.join(changed)}")
        atomic_write_text(saved, dump_config(cfg))
    return Path(run_dir)


def _changed(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts (``train.resume`` aside)."""
    out = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed(a, b, f"{name}.")
        elif a != b and name != "train.resume":
            out.append(f"{name} {a!r} -> {b!r}")
    return out


def train_loader(
    cfg: ExperimentConfig, task: Task, train_set: Dataset, grid: tuple[int, int], start: int, d: Dist, device
) -> DataLoader:
    """This process's prepared steps from ``start`` to the end (``StepBatch``: the padded batch and its
    windows), made by ``train.num_workers`` workers ahead of the step, pinned on GPUs."""
    t = cfg.train
    try:
        steps = StepBatches(len(train_set), t.batch_size, t.seed, start, t.steps, d.rank, d.world)
    except ValueError as e:
        raise ConfigError(f"train.batch_size: {e}") from None
    source = StepSource(train_set, task, cfg.windows, grid, cfg.model.patch_size, t.seed, d.rank, d.world)
    workers = loader_workers(t.num_workers, device.type)
    return DataLoader(source, sampler=steps, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda")


def train(cfg: ExperimentConfig, progress: bool = True, say: Callable[[str], None] = print) -> Path:
    """Train ``cfg`` in this process, or in this process's share when started by ``torchrun``. Its lines go
    to ``say`` (a caller running several trainings at once marks them by run)."""
    t = cfg.train
    setup_runtime(t.seed, t.threads, t.deterministic)  # registers this process's threads (threads.py)
    d, device = init_distributed(t.device)
    try:
        return _train(cfg, d, device, progress and d.main, say if d.main else (lambda _: None))
    finally:
        shutdown(d)
        unregister()


def _train(cfg: ExperimentConfig, d: Dist, device: torch.device, progress: bool, say: Callable[[str], None]) -> Path:
    t = cfg.train
    if t.precision == "bf16" and device.type != "cuda":
        raise ConfigError("train.precision=bf16 needs a CUDA device")
    task = build_task(cfg.task)
    train_set, val_set = build_datasets(task, cfg)
    grid = check_against_data(cfg, task, train_set)
    run_dir = start_run_dir(cfg, d, say)
    store = CheckpointStore(run_dir / "checkpoints", keep=t.keep_checkpoints)
    model, optimizer, state = restore(cfg, store, device, say)
    start = int(state["step"])
    if state.get("world_size", d.world) != d.world:
        say(
            f"the checkpoint was written by {state['world_size']} processes, this run has {d.world}: each step's "
            "images and windows stay the same; per-process draws (drop-path, a task's own window noise) differ"
        )
    loader = train_loader(cfg, task, train_set, grid, start, d, device)
    net = wrap(model, d, device)
    if t.compile and cfg.windows.mode in ("budget", "random_tokens"):
        say(f"train.compile with windows.mode={cfg.windows.mode}: every new window layout compiles anew")
    loss_fn = loss_function(task, net, cfg.model.patch_size, t.compile)
    meter = Meter(state.get("meter"), device)
    loop = Loop(cfg, task, grid, model, net, optimizer, store, run_dir, val_set, d, device, meter, loss_fn)
    with RunLog(run_dir, enabled=d.main, resume_step=start if t.resume else None) as log:  # closed on errors too
        loop.run(iter(loader), start, log, progress)
        metrics = loop.evaluate(progress)
        if d.main:
            primary = task.metric().primary
            metrics["step"] = t.steps
            atomic_write_text(run_dir / "eval.json", json.dumps(metrics, indent=2))
            log.record(t.steps, {f"val_{primary}": metrics[primary], "val_loss": metrics["loss"]})
            write_report(run_dir, cfg, task, model, val_set, metrics, grid, device)
            log.image(t.steps, "report", run_dir / "report.png")
            say(f"full-resolution validation: {task.summary(metrics)} -> {run_dir}")
    return run_dir
