"""The test variants of a trained row beyond the plain full pass (``eval.json``): the tuned temperature (with
its sweep, Appendix D's curve), resize and tiling (Table 2's crop), learned per-head temperatures, and test
crops of several sizes (Appendix A). Each variant's result is the task's metrics, plus what it chose."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..engine.calibrate import CalibrationImages, best_temperature, learn_head_temperatures, sweep_temperature
from ..engine.checkpoint import load_checkpoint, load_task
from ..engine.config import ExperimentConfig
from ..engine.evaluate import evaluate
from ..engine.train import build_split
from ..inference import InferenceSpec
from .tables import LEARNED, RESIZE, TILING, TUNED, Row, crop_size

SWEEP = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.7, 2.0]  # one crop's best was below 0.7


class CroppedSet(Dataset):
    """Every sample of ``dataset`` cut to ``size`` = (h, w) px at one position per index (drawn from the index,
    so every model sees the same crops): each tensor whose last two dimensions are the sample's image size."""

    def __init__(self, dataset: Dataset, size: tuple[int, int], seed: int = 0) -> None:
        self.dataset, self.size, self.seed = dataset, size, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        sample = self.dataset[index]
        maps = [v for v in sample.values() if isinstance(v, torch.Tensor) and v.ndim >= 2]
        H, W = max((v.shape[-2:] for v in maps), key=lambda s: s[0] * s[1])
        h, w = self.size
        if h > H or w > W:
            raise ValueError(f"test crop {h}x{w} px does not fit sample {index} of {H}x{W} px")
        rng = np.random.default_rng([self.seed, index])
        y, x = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        return {
            k: v[..., y : y + h, x : x + w] if isinstance(v, torch.Tensor) and v.shape[-2:] == (H, W) else v
            for k, v in sample.items()
        }  # every (..., H, W) map -> (..., h, w)


def has_variant(result: dict, variant: str) -> bool:
    """Whether a cached result holds ``variant`` with everything the report reads of it."""
    value = result.get("variants", {}).get(variant)
    if value is None:
        return False
    return variant != TUNED or sorted(p["temperature"] for p in value.get("sweep", [])) == sorted(SWEEP)


def evaluate_variants(
    row: Row, variants: list[str], cfg: ExperimentConfig, folder: Path, calib_images: int, learn_steps: int, device: str
) -> dict:
    """``variants`` of the row's trained model (``folder/checkpoints/last``), by name."""
    model, info = load_checkpoint(folder / "checkpoints" / "last", device)
    task = load_task(info)
    val_set = build_split(task, cfg, cfg.data.val_split, train=False)

    def calibration() -> CalibrationImages:
        train_set = build_split(task, cfg, cfg.data.train_split, train=True)
        return CalibrationImages(train_set, min(calib_images, len(train_set)))

    out: dict = {}
    for variant in variants:
        size = crop_size(variant)
        if variant == TUNED:
            sweep = sweep_temperature(task, model, calibration(), SWEEP, device, 2, False, False)
            t = best_temperature(sweep, "loss")["temperature"]  # the paper's criterion: the training loss
            out[variant] = {
                **evaluate(task, model, val_set, device, 2, temperature=t, progress=False),
                "temperature": t, "sweep": sweep,
            }  # fmt: skip
        elif variant in (RESIZE, TILING):
            spec = InferenceSpec(mode=variant, tile=row.tile, overlap=0.5)
            out[variant] = evaluate(task, model, val_set, device, 2, progress=False, inference=spec)
        elif variant == LEARNED:
            learner, _ = load_checkpoint(folder / "checkpoints" / "last", device)  # a fresh copy to change
            tic = time.perf_counter()
            log = learn_head_temperatures(task, learner, calibration(), learn_steps, 0.01, 2, device, 0, False, False)
            seconds = time.perf_counter() - tic
            out[variant] = {
                **evaluate(task, learner, val_set, device, 2, progress=False),
                "extra_s": seconds, "learn_steps": learn_steps,
                "temperatures": {k: log[-1][k] for k in ("mean", "min", "max")},
            }  # fmt: skip
        elif size is not None:
            out[variant] = evaluate(task, model, CroppedSet(val_set, size), device, 2, progress=False)
        elif variant != "full":
            raise ValueError(f"unknown test variant {variant!r} of row {row.name!r}")
    return out
