"""``winwin pretrain``: cross-view completion pretraining of a binocular model on frame pairs (CroCo's pretext
task), written as a CroCo-format file that ``train.init`` starts a fine-tuning from.

The paper fine-tunes its two-frame model from CroCo's weights; on the embedded pairs, with no CroCo file at hand,
this gives a small model the same start. Frame 1 keeps ``1 - mask_ratio`` of its tokens at random (single
tokens, as CroCo), frame 2 all of them; the loss is the MSE of the masked patches (normalised per patch).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..files import atomic_write_text
from ..models import build_model
from ..models.croco import save_croco
from ..models.crossview import CrossViewCompletion
from ..tasks import build_task
from ..windows import sample_windows
from .config import ConfigError, ExperimentConfig, dump_config
from .optim import clip_gradients, lr_at, set_lr
from .run_log import RunLog
from .runtime import resolve_device, setup_runtime
from .stream import endless
from .threads import loader_workers
from .train import build_split, make_run_dir


def pretrain(cfg: ExperimentConfig, mask_ratio: float = 0.9, progress: bool = True) -> Path:
    """Train ``cfg.model`` (binocular) by cross-view completion on the training pairs of ``cfg.data``;
    writes ``<run>/croco.pth`` (every ``train.ckpt_every`` steps and at the end) and ``log.jsonl``."""
    t, o = cfg.train, cfg.optim
    if not 0.0 < mask_ratio < 1.0:
        raise ConfigError(f"--mask-ratio must be in (0, 1), got {mask_ratio}")
    if not cfg.model.binocular or cfg.model.pos_embed != "rope":
        raise ConfigError("cross-view completion pretrains a binocular RoPE model (a task with two inputs)")
    setup_runtime(t.seed, t.threads)
    device = resolve_device(t.device)
    task = build_task(cfg.task)
    train_set = build_split(task, cfg, cfg.data.train_split, train=True, augment=True, cache=True)
    H, W = task.inputs({k: v[None] for k, v in train_set[0].items() if isinstance(v, torch.Tensor)})[0].shape[-2:]
    p = cfg.model.patch_size
    if H % p or W % p:
        raise ConfigError(f"pretraining images must be a multiple of the patch size {p}, got {H}x{W}")
    grid = (H // p, W // p)
    keep = max(1, round((1.0 - mask_ratio) * grid[0] * grid[1]))

    run_dir = make_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_config(cfg) + f"pretrain:\n  mask_ratio: {mask_ratio}\n")
    model = CrossViewCompletion(build_model(cfg.model)).to(device)
    decay = [q for q in model.parameters() if q.ndim > 1]
    no_decay = [q for q in model.parameters() if q.ndim <= 1]
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas))
    # Workers as training's loader has them (none on the CPU, up to 4 on a GPU): a synthetic pair takes ~55 ms
    # to render, so one process feeding a GPU runs the first epoch at about a step a second. Persistent, so each
    # worker keeps the samples it cached (its own copy: about 1 MB a pair at 192x384)
    workers = loader_workers(t.num_workers, device.type)
    loader = DataLoader(
        train_set,
        batch_size=t.batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(t.seed),
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
    )
    if len(loader) == 0:
        raise ConfigError(f"train.batch_size {t.batch_size} is larger than the training set ({len(train_set)} pairs)")
    gen = torch.Generator().manual_seed(t.seed + 1)
    batches, out = endless(loader), run_dir / "croco.pth"
    bar = tqdm(range(t.steps), desc=f"{cfg.name} (cross-view completion)", disable=not progress, dynamic_ncols=True)
    tic, loss_avg = time.perf_counter(), None
    model.train()
    with RunLog(run_dir) as log:
        for step in bar:
            img1, img2 = (x.to(device) for x in task.inputs(next(batches)))
            visible = sample_windows(grid, keep, (1, 1), img1.shape[0], gen, balance=False).to(device)
            lr = lr_at(step, t.steps, o.lr, o.warmup_steps, o.min_lr)
            set_lr(optimizer, lr)
            loss = model.loss(img1, img2, visible)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {float(loss)} at step {step}; lower optim.lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(model, o.clip_grad)
            optimizer.step()
            loss_avg = loss.item() if loss_avg is None else 0.9 * loss_avg + 0.1 * loss.item()
            done = step + 1
            if done % t.log_every == 0 or done == t.steps:
                s_per_step = (time.perf_counter() - tic) / t.log_every
                log.record(done, {"loss": loss_avg, "lr": lr, "s_per_step": s_per_step})
                bar.set_postfix(loss=f"{loss_avg:.3f}")
                tic = time.perf_counter()
            if done % t.ckpt_every == 0 or done == t.steps:
                save_croco(out, model, cfg.model)
    bar.close()
    print(
        f"cross-view completion: loss {loss_avg:.4f} after {t.steps} steps -> {out} (start a run with train.init={out})"
    )
    return out
