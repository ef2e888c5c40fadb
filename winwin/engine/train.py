"""The training loop: window batches (or crops, or full images), AdamW, warm-up + cosine, checkpoints,
a final full-resolution evaluation and a short report in the run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..data import build_dataset
from ..data.transforms import pad_to_multiple
from ..models import DenseModel, build_model
from ..tasks import window_loss
from .checkpoint import atomic_write_text, load_checkpoint, load_optimizer_state, save_checkpoint
from .config import ConfigError, ExperimentConfig, dump_config
from .evaluate import evaluate_segmentation
from .optim import build_optimizer, clip_gradients, lr_at, set_lr
from .report import write_report
from .runtime import autocast, resolve_device, setup_runtime


def build_datasets(cfg: ExperimentConfig):
    """(train, val) datasets of the experiment; synthetic data is generated, real data read from data.root."""
    # Cached synthetic training set: generated once, then each epoch costs only the normalisation (FINDINGS:
    # keep data generation off the critical path).
    return (build_split(cfg, cfg.data.train_split, flip=cfg.data.flip, cache=True),
            build_split(cfg, cfg.data.val_split))


def build_split(cfg: ExperimentConfig, split: str, *, flip: bool = False, cache: bool = False):
    """One split of the experiment's dataset (the training split's or the validation split's settings)."""
    d = cfg.data
    image_hw = tuple(d.image_size) if d.image_size is not None else None
    is_train = split == d.train_split
    try:
        if d.name == "synthetic":
            length = d.train_length if is_train else d.val_length
            return build_dataset(d.name, split, length=length, image_hw=image_hw, seed=d.seed, flip=flip, cache=cache)
        max_items = d.max_train_items if is_train else d.max_val_items
        return build_dataset(d.name, split, root=d.root, image_hw=image_hw, flip=flip, max_items=max_items)
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(f"data: {e}") from None


def check_against_data(cfg: ExperimentConfig, train_set) -> tuple[int, int]:
    """Dataset-dependent checks, before any training work. Returns the training token grid."""
    if cfg.model.num_classes != train_set.num_classes:
        raise ConfigError(
            f"model.num_classes is {cfg.model.num_classes} but dataset {cfg.data.name!r} has {train_set.num_classes} classes"
        )
    H, W = train_set[0]["image"].shape[-2:]
    p = cfg.model.patch_size
    grid = (-(-H // p), -(-W // p))
    try:
        cfg.windows.validate(grid)
    except ValueError as e:
        raise ConfigError(f"windows: {e} (training images are {H}x{W} px = {grid[0]}x{grid[1]} tokens of {p} px)") from None
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
    train_set, val_set = build_datasets(cfg)
    grid = check_against_data(cfg, train_set)

    run_dir = make_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    ckpt = run_dir / "checkpoints" / "last"
    ckpt_extra = {"run": str(run_dir), "classes": list(train_set.classes), "palette": [list(map(int, c)) for c in train_set.palette]}

    model: DenseModel = build_model(cfg.model).to(device)
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
        train_set, batch_size=t.batch_size, shuffle=True, drop_last=True, num_workers=t.num_workers,
        generator=loader_gen, persistent_workers=t.num_workers > 0,
    )
    if len(loader) == 0:
        raise ConfigError(f"train.batch_size {t.batch_size} is larger than the training set ({len(train_set)} images)")
    window_gen = torch.Generator().manual_seed(t.seed + 1 + start)
    mixed = autocast(device.type, t.precision == "bf16")

    model.train()
    log_path = run_dir / "log.jsonl"
    batches = endless(loader)
    bar = tqdm(range(start, t.steps), initial=start, total=t.steps, desc=cfg.name, disable=not progress, dynamic_ncols=True)
    tic, seen, loss_avg = time.perf_counter(), 0, None
    for step in bar:
        batch = next(batches)
        images, labels, _ = pad_to_multiple(batch["image"], cfg.model.patch_size, batch["label"])
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        windows = cfg.windows.sample(grid, images.shape[0], window_gen)
        if windows is not None:
            windows = windows.to(device)
        lr = lr_at(step, t.steps, o.lr, o.warmup_steps, o.min_lr)
        set_lr(optimizer, lr)
        with mixed:
            loss = window_loss(model, images, labels, windows)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {float(loss)} at step {step}; lower optim.lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_gradients(model, o.clip_grad)
        optimizer.step()

        seen += images.shape[0]
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
            save_checkpoint(ckpt, model, done, ckpt_extra, optimizer)
        if t.eval_every and done % t.eval_every == 0 and done != t.steps:
            metrics = evaluate_segmentation(model, val_set, device, t.eval_batch_size, progress=False)
            with log_path.open("a") as f:
                f.write(json.dumps({"step": done, "val_miou": metrics["miou"], "val_loss": metrics["loss"]}) + "\n")
            model.train()
    bar.close()
    save_checkpoint(ckpt, model, t.steps, ckpt_extra, optimizer)

    metrics = evaluate_segmentation(model, val_set, device, t.eval_batch_size, progress=progress)
    metrics["step"] = t.steps
    atomic_write_text(run_dir / "eval.json", json.dumps(metrics, indent=2))
    write_report(run_dir, cfg, model, val_set, metrics, grid, device)
    print(f"full-resolution val mIoU {metrics['miou']:.4f} (pixel acc {metrics['pixel_acc']:.4f}) -> {run_dir}")
    return run_dir
