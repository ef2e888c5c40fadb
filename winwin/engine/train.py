"""The training loop of every task: window batches (or crops, or full images), AdamW, warm-up + cosine,
checkpoints, a final full-resolution evaluation and a short report in the run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..files import atomic_write_text
from ..models import build_model, init_from_croco
from ..tasks import Task, build_task
from .checkpoint import load_checkpoint, load_optimizer_state, save_checkpoint
from .config import ConfigError, ExperimentConfig, dump_config
from .evaluate import evaluate
from .optim import build_optimizer, clip_gradients, lr_at, set_lr
from .report import write_report
from .runtime import autocast, resolve_device, setup_runtime
from .step import batch_loss, prepare


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


def endless(loader: DataLoader):
    """Batches of ``loader``, epoch after epoch."""
    while True:
        yield from loader


def train(cfg: ExperimentConfig, progress: bool = True) -> Path:
    t = cfg.train
    setup_runtime(t.seed, t.threads)
    device = resolve_device(t.device)
    if t.precision == "bf16" and device.type != "cuda":
        raise ConfigError("train.precision=bf16 needs a CUDA device")
    task = build_task(cfg.task)
    train_set, val_set = build_datasets(task, cfg)
    grid = check_against_data(cfg, task, train_set)

    run_dir = make_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    ckpt = run_dir / "checkpoints" / "last"
    ckpt_extra = {"run": str(run_dir)}

    model = build_model(cfg.model)
    if t.init is not None and not t.resume:
        parts = init_from_croco(model, t.init)
        print(f"{' and '.join(parts)} from {t.init}")
    model = model.to(device)
    o = cfg.optim
    optimizer = build_optimizer(model, o.lr, o.weight_decay, o.layer_decay, tuple(o.betas))
    start = 0
    if t.resume and ckpt.with_suffix(".json").exists():
        model, info = load_checkpoint(ckpt, device)
        optimizer = build_optimizer(model, o.lr, o.weight_decay, o.layer_decay, tuple(o.betas))
        state = load_optimizer_state(ckpt)
        if state is not None:
            optimizer.load_state_dict(state)
        start = int(info["step"])
        print(f"resuming {run_dir} from step {start}")

    loader_gen = torch.Generator().manual_seed(t.seed + start)
    loader = DataLoader(
        train_set,
        batch_size=t.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=t.num_workers,
        generator=loader_gen,
        persistent_workers=t.num_workers > 0,
    )
    if len(loader) == 0:
        raise ConfigError(f"train.batch_size {t.batch_size} is larger than the training set ({len(train_set)} images)")
    window_gen = torch.Generator().manual_seed(t.seed + 1 + start)
    bf16 = t.precision == "bf16"
    mixed = autocast(device.type, bf16)

    model.train()
    log_path = run_dir / "log.jsonl"
    batches = endless(loader)
    bar = tqdm(
        range(start, t.steps), initial=start, total=t.steps, desc=cfg.name, disable=not progress, dynamic_ncols=True
    )
    tic, seen, loss_avg = time.perf_counter(), 0, None
    primary = task.metric().primary
    for step in bar:
        batch = prepare(task, next(batches), cfg.model.patch_size, device)
        windows = task.sample_windows(cfg.windows, grid, batch.target, batch.valid, window_gen)
        if windows is not None:
            windows = _to(windows, device)
        lr = lr_at(step, t.steps, o.lr, o.warmup_steps, o.min_lr)
        set_lr(optimizer, lr)
        with mixed:
            loss = batch_loss(task, model, batch, windows)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {float(loss)} at step {step}; lower optim.lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_gradients(model, o.clip_grad)
        optimizer.step()

        seen += batch.size
        loss_value = loss.item()
        loss_avg = loss_value if loss_avg is None else 0.9 * loss_avg + 0.1 * loss_value
        done = step + 1
        if done % t.log_every == 0 or done == t.steps:
            elapsed = time.perf_counter() - tic
            record = {"step": done, "loss": loss_avg, "lr": lr, "grad_norm": grad_norm, "images_per_s": seen / elapsed}
            bar.set_postfix(loss=f"{loss_avg:.3f}", img_s=f"{seen / elapsed:.1f}", lr=f"{lr:.2e}")
            with log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            tic, seen = time.perf_counter(), 0
        if done % t.ckpt_every == 0 and done != t.steps:
            save_checkpoint(ckpt, model, done, ckpt_extra, optimizer, task)
        if t.eval_every and done % t.eval_every == 0 and done != t.steps:
            metrics = evaluate(task, model, val_set, device, t.eval_batch_size, bf16=bf16, progress=False)
            with log_path.open("a") as f:
                f.write(
                    json.dumps({"step": done, f"val_{primary}": metrics[primary], "val_loss": metrics["loss"]}) + "\n"
                )
    bar.close()
    save_checkpoint(ckpt, model, t.steps, ckpt_extra, optimizer, task)

    metrics = evaluate(task, model, val_set, device, t.eval_batch_size, bf16=bf16, progress=progress)
    metrics["step"] = t.steps
    atomic_write_text(run_dir / "eval.json", json.dumps(metrics, indent=2))
    write_report(run_dir, cfg, task, model, val_set, metrics, grid, device)
    print(f"full-resolution validation: {task.summary(metrics)} -> {run_dir}")
    return run_dir


def _to(windows, device):
    """Windows (or a pair of them, for a binocular task) on ``device``."""
    if isinstance(windows, tuple):
        return tuple(w.to(device) for w in windows)
    return windows.to(device)
