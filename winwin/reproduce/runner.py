"""Train and evaluate every (row, seed) of the tables once: each finished pair is cached as
``result-<row>.json`` in its run folder, and an interrupted run resumes exactly (``train.resume``), so a
stopped reproduction continues where it was. The report is rewritten after every finished pair."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..engine.calibrate import CalibrationImages, best_temperature, sweep_temperature
from ..engine.checkpoint import load_checkpoint, load_task
from ..engine.config import ExperimentConfig, load_config
from ..engine.evaluate import evaluate
from ..engine.train import build_datasets, build_split, check_against_data, train
from ..files import atomic_write_text
from ..inference import InferenceSpec
from .tables import RESIZE, TILING, TUNED, Row

BASE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
SWEEP = [0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.7, 2.0]


@dataclass(frozen=True)
class Budget:
    """How every run of a reproduction trains: the same steps and batch for every row (equal epochs)."""

    steps: int = 4000
    eval_every: int = 500
    calib_images: int = 100
    overrides: tuple[str, ...] = ()

    def key(self, row: Row) -> str:
        text = json.dumps([list(row.overrides), list(self.overrides), self.steps, self.eval_every])
        return hashlib.sha1(text.encode()).hexdigest()[:10]


# a few steps of a tiny model on the embedded images: checks that everything runs (the test suite's)
QUICK = Budget(
    steps=2, eval_every=1, calib_images=2,
    overrides=("model.embed_dim=32", "model.num_heads=2", "model.depth=2", "model.head_width=8",
               "data.train_length=8", "data.val_length=2", "train.batch_size=2", "train.log_every=1"),
)  # fmt: skip


def run_dir(out: Path, row: Row, seed: int, budget: Budget) -> Path:
    """The training run of (row, seed): keyed by what it trains, so rows of two tables with the same
    overrides share it (their test variants are cached apart, one result file per row name)."""
    return out / "runs" / budget.key(row) / f"s{seed}"


def result_path(folder: Path, row: Row) -> Path:
    return folder / f"result-{re.sub(r'[^a-z0-9]+', '-', row.name.lower()).strip('-')}.json"


def row_config(row: Row, seed: int, budget: Budget, folder: Path, device: str) -> ExperimentConfig:
    if not BASE_CONFIG.is_file():
        raise FileNotFoundError(f"winwin reproduce needs {BASE_CONFIG} (run it from a source checkout)")
    return load_config(
        BASE_CONFIG,
        [*budget.overrides, *row.overrides, f"train.seed={seed}", f"train.steps={budget.steps}",
         f"train.eval_every={budget.eval_every}", f"train.ckpt_every={max(1, budget.eval_every)}",
         f"train.device={device}", f"out_dir={folder.parent}", f"name={folder.name}", "train.resume=true"],
    )  # fmt: skip


def training_curve(folder: Path, metric: str, batch: int) -> tuple[float, list[dict]]:
    """(training wall time in s, validation curve) from ``log.jsonl``: an interval of training takes its
    steps x ``batch`` / images_per_s, so evaluations and interruptions are not counted."""
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    wall, last_step, curve = 0.0, 0, []
    for r in records:
        if "images_per_s" in r:
            wall += (r["step"] - last_step) * batch / r["images_per_s"]
            last_step = r["step"]
        if f"val_{metric}" in r:
            curve.append({"step": r["step"], "wall_s": wall, "value": r[f"val_{metric}"]})
    return wall, curve


def step_flops_of(cfg: ExperimentConfig) -> float:
    """FLOPs of one training step of ``cfg`` (forward, loss, backward), counted as ``bench train`` does."""
    from ..engine.distributed import Dist
    from ..engine.step import loss_function
    from ..engine.train import train_loader
    from ..models import build_model
    from ..tasks import build_task
    from ..tools.flops import step_flops

    task = build_task(cfg.task)
    train_set, _ = build_datasets(task, cfg)
    grid = check_against_data(cfg, task, train_set)
    device = torch.device("cpu")
    model = build_model(cfg.model)
    item = next(iter(train_loader(cfg, task, train_set, grid, 0, Dist(), device)))
    loss_fn = loss_function(task, model, cfg.model.patch_size)
    return float(step_flops(lambda: loss_fn(*item.to(device)).backward())["total"])


def evaluate_variants(row: Row, cfg: ExperimentConfig, folder: Path, budget: Budget, device: str) -> dict:
    """The row's test variants beyond the plain full pass (already in ``eval.json``)."""
    model, info = load_checkpoint(folder / "checkpoints" / "last", device)
    task = load_task(info)
    val_set = build_split(task, cfg, cfg.data.val_split, train=False)
    out: dict = {}
    for variant in row.variants:
        if variant == TUNED:
            train_set = build_split(task, cfg, cfg.data.train_split, train=True)
            images = CalibrationImages(train_set, min(budget.calib_images, len(train_set)))
            curve = sweep_temperature(task, model, images, SWEEP, device, 2, False, False)
            t = best_temperature(curve, "loss")["temperature"]  # the paper's criterion: the training loss
            out[variant] = {
                **evaluate(task, model, val_set, device, 2, temperature=t, progress=False),
                "temperature": t,
            }
        elif variant in (RESIZE, TILING):
            spec = InferenceSpec(mode=variant, tile=row.tile, overlap=0.5)
            out[variant] = evaluate(task, model, val_set, device, 2, progress=False, inference=spec)
    return out


def run_row(row: Row, seed: int, budget: Budget, out: Path, device: str = "cpu", say=print) -> dict:
    """The cached result of (row, seed), or train and evaluate it now (resuming an interrupted run)."""
    folder = run_dir(out, row, seed, budget)
    cached = result_path(folder, row)
    if cached.is_file():
        return json.loads(cached.read_text())
    cfg = row_config(row, seed, budget, folder, device)
    say(f"reproduce: {row.name}, seed {seed} -> {folder}")
    tic = time.perf_counter()
    if not (folder / "eval.json").is_file():  # written when a training run is complete
        train(cfg, progress=False)
    metric = load_task(load_checkpoint(folder / "checkpoints" / "last")[1]).metric().primary
    variants = {
        "full": json.loads((folder / "eval.json").read_text()),
        **evaluate_variants(row, cfg, folder, budget, device),
    }
    wall, curve = training_curve(folder, metric, cfg.train.batch_size)
    flops = step_flops_of(cfg)
    result = {
        "row": row.name, "seed": seed, "steps": budget.steps, "train_wall_s": wall, "flops_per_step": flops,
        "session_s": time.perf_counter() - tic, "variants": variants, "curve": curve, "overrides": list(row.overrides),
    }  # fmt: skip
    atomic_write_text(cached, json.dumps(result, indent=2))
    return result
