"""``winwin pretrain``: cross-view completion pretraining of a binocular model on frame pairs (CroCo's pretext
task), written as a CroCo-format file that ``train.init`` starts a fine-tuning from.

The paper fine-tunes its two-frame model from CroCo's weights; on the embedded pairs, with no CroCo file at hand,
this gives a small model the same start. Frame 1 keeps ``1 - mask_ratio`` of its tokens at random (single
tokens, as CroCo), frame 2 all of them; the loss is the MSE of the masked patches (normalised per patch).

It stops and resumes as training does: the pairs of each step, their augmentation and the visible tokens
derive from (seed, step) (``stream``), a checkpoint every ``train.ckpt_every`` steps holds the weights, the
optimiser and the loss average, a pre-emption notice (or ``train.time_limit_s``) saves one and stops, and
``train.resume=true`` continues exactly where the newest good one left off.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm import tqdm

from ..errors import BadFileError, Interrupted
from ..files import atomic_write_text
from ..models import build_model
from ..models.croco import save_croco
from ..models.crossview import CrossViewCompletion
from ..tasks import build_task
from ..windows import sample_windows
from .checkpoint import load_optimizer_state
from .config import ConfigError, ExperimentConfig, dump_config
from .distributed import Dist
from .optim import clip_gradients, lr_at, set_lr
from .resume import newest_good
from .run_log import RunLog
from .runtime import resolve_device, setup_runtime
from .stop import TIME_LIMIT, StopSignals
from .stream import SeededSamples, StepBatches, seed_step, window_generator
from .threads import loader_workers
from .train import build_split, make_run_dir
from .train_checkpoints import CheckpointStore, model_path

STREAM = "winwin-pretrain-stream-1"  # how the pairs and visible tokens derive from (seed, step); saved with each state


class PairSteps(Dataset):
    """``source[(step, items)]`` -> (step, the collated pairs of that step), each pair drawn with its own seed."""

    def __init__(self, dataset: Dataset) -> None:
        self.samples = SeededSamples(dataset)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, list[tuple[int, int]]]) -> tuple[int, dict]:
        step, items = key
        return step, default_collate([self.samples[item] for item in items])


def _optimizer(model: CrossViewCompletion, cfg: ExperimentConfig) -> torch.optim.Optimizer:
    o = cfg.optim
    decay = [q for q in model.parameters() if q.ndim > 1]
    no_decay = [q for q in model.parameters() if q.ndim <= 1]
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas))


def _restore(
    store: CheckpointStore, model, optimizer, mask_ratio: float, resume: bool, say
) -> tuple[int, float | None]:
    """(first step, loss average) to go on from: the newest good checkpoint with ``resume``, else (0, None)."""
    found = newest_good(store, resume, say)
    if found is None:
        return 0, None
    folder, state = found
    if state.get("stream") != STREAM:
        raise BadFileError(folder, f"not a cross-view completion checkpoint (stream {state.get('stream')!r}, "
                                   f"expected {STREAM!r}): resume it with winwin train")  # fmt: skip
    if state.get("mask_ratio") != mask_ratio:
        say(f"resuming with --mask-ratio {mask_ratio}; the checkpoint was trained with {state.get('mask_ratio')}")
    device = next(model.parameters()).device
    model.load_state_dict(load_file(model_path(folder).with_suffix(".safetensors"), device=str(device)))
    optimizer.load_state_dict(load_optimizer_state(model_path(folder)))
    say(f"resuming from {folder} (step {state['step']})")
    return int(state["step"]), state.get("loss_avg")


def pretrain(
    cfg: ExperimentConfig, mask_ratio: float = 0.9, progress: bool = True, say: Callable[[str], None] = print
) -> Path:
    """Train ``cfg.model`` (binocular) by cross-view completion on the training pairs of ``cfg.data``;
    writes ``<run>/croco.pth`` (every ``train.ckpt_every`` steps and at the end), ``log.jsonl`` and the
    resumable checkpoints (``<run>/checkpoints``). Raises ``Interrupted`` after saving on a pre-emption notice."""
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
    if t.batch_size > len(train_set):
        raise ConfigError(f"train.batch_size {t.batch_size} is larger than the training set ({len(train_set)} pairs)")

    run_dir = make_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_config(cfg) + f"pretrain:\n  mask_ratio: {mask_ratio}\n")
    model = CrossViewCompletion(build_model(cfg.model)).to(device)
    optimizer = _optimizer(model, cfg)
    store = CheckpointStore(run_dir / "checkpoints", keep=t.keep_checkpoints)
    start, loss_avg = _restore(store, model, optimizer, mask_ratio, t.resume, say)
    steps = StepBatches(len(train_set), t.batch_size, t.seed, start, t.steps)
    # Workers as training's loader has them (none on the CPU, up to 4 on a GPU): a synthetic pair takes ~55 ms
    # to render, so one process feeding a GPU runs the first epoch at about a step a second
    workers = loader_workers(t.num_workers, device.type)
    loader = DataLoader(PairSteps(train_set), sampler=steps, batch_size=None, num_workers=workers,
                        pin_memory=device.type == "cuda")  # fmt: skip
    out = run_dir / "croco.pth"

    def save(done: int) -> None:
        state = {"step": done, "loss_avg": loss_avg, "seed": t.seed, "mask_ratio": mask_ratio, "stream": STREAM}
        store.save(done, model, optimizer, None, {"pretext": "cross-view completion", "croco": str(out)}, state)
        save_croco(out, model, cfg.model)

    bar = tqdm(initial=start, total=t.steps, desc=f"{cfg.name} (cross-view completion)", disable=not progress,
               dynamic_ncols=True)  # fmt: skip
    tic, since = time.perf_counter(), 0
    model.train()
    with RunLog(run_dir, resume_step=start if t.resume else None) as log, StopSignals(t.time_limit_s) as stop, bar:
        for step, batch in loader:
            seed_step(t.seed, step, 0)  # dropout and drop-path of this step
            img1, img2 = (x.to(device) for x in task.inputs(batch))
            visible = sample_windows(grid, keep, (1, 1), img1.shape[0], window_generator(t.seed, step), balance=False)
            lr = lr_at(step, t.steps, o.lr, o.warmup_steps, o.min_lr)
            set_lr(optimizer, lr)
            loss = model.loss(img1, img2, visible.to(device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {float(loss)} at step {step}; lower optim.lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(model, o.clip_grad)
            optimizer.step()
            loss_avg = loss.item() if loss_avg is None else 0.9 * loss_avg + 0.1 * loss.item()
            done, since = step + 1, since + 1
            bar.update(1)
            if done % t.log_every == 0 or done == t.steps:
                log.record(done, {"loss": loss_avg, "lr": lr, "s_per_step": (time.perf_counter() - tic) / since})
                bar.set_postfix(loss=f"{loss_avg:.3f}")
                tic, since = time.perf_counter(), 0
            if done % t.ckpt_every == 0 or done == t.steps:
                save(done)
            signum = stop.requested(Dist())
            if signum and done < t.steps:
                if done % t.ckpt_every:
                    save(done)
                why = f"train.time_limit_s={t.time_limit_s:g}" if signum == TIME_LIMIT else signal.Signals(signum).name
                raise Interrupted(signum, done, f"{why} at step {done}: saved {store.step_folder(done)}; "
                                                "continue with train.resume=true")  # fmt: skip
    say(
        f"cross-view completion: loss {loss_avg:.4f} after {t.steps} steps -> {out} (start a run with train.init={out})"
    )
    return out
