"""``winwin calibrate``: sweep and/or learn the attention temperature of a checkpoint, write the curves
(CSV + PNG) and store the result in the checkpoint's JSON config (the weights file is never rewritten)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import torch

from ..files import atomic_write_text
from ..models.temperature import describe_temperature, format_temperature, head_temperatures, set_temperature
from .calibrate import CalibrationImages, best_temperature, learn_head_temperatures, selection_key, sweep_temperature
from .calibrate_plots import plot_learning, plot_sweep
from .checkpoint import checkpoint_paths, load_checkpoint, load_task, read_checkpoint_info, update_checkpoint_info
from .config import ConfigError, ExperimentConfig
from .evaluate import evaluate
from .train import build_split


def default_output_dir(ckpt: Path) -> Path:
    """``<run>/calibration`` for a run's checkpoint, else ``<stem>-calibration`` next to the checkpoint."""
    weights, _ = checkpoint_paths(ckpt)
    if weights.parent.name == "checkpoints":
        return weights.parent.parent / "calibration"
    return weights.parent / f"{weights.stem}-calibration"


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def run_calibration(
    ckpt: Path,
    cfg: ExperimentConfig,
    *,
    sweep: list[float] | None,
    learn: bool,
    select: str = "loss",
    images: int = 100,
    batch_size: int = 2,
    steps: int = 200,
    lr: float = 0.01,
    device: torch.device = torch.device("cpu"),
    out_dir: Path | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Calibrate the checkpoint ``ckpt`` on training images of ``cfg``'s dataset; returns the summary."""
    if sweep is None and not learn:
        raise ValueError("nothing to do: ask for a sweep, learning, or both")
    model, info = load_checkpoint(ckpt, device)
    task = load_task(info)
    try:
        key, higher = selection_key(task, select)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    train_set = build_split(task, cfg, cfg.data.train_split, train=True)  # no flips: the images as they are
    if model.config.out_channels != task.out_channels():
        raise ConfigError(
            f"the checkpoint predicts {model.config.out_channels} channels but its task needs "
            f"{task.out_channels()}; pass the run's --config"
        )
    subset = CalibrationImages(train_set, images)
    out_dir = Path(out_dir) if out_dir is not None else default_output_dir(ckpt)
    out_dir.mkdir(parents=True, exist_ok=True)
    bf16 = cfg.train.precision == "bf16" and device.type == "cuda"
    hw = tuple(task.inputs(train_set[0])[0].shape[-2:])  # one sample's (3, H, W)
    summary: dict = {
        "checkpoint": str(checkpoint_paths(ckpt)[0]),
        "dataset": cfg.data.name,
        "split": cfg.data.train_split,
        "images": len(subset),
        "image_size": list(hw),
        "before": describe_temperature(model),
    }
    config = model.config

    if sweep is not None:
        curve = sweep_temperature(task, model, subset, sweep, device, batch_size, bf16, progress)
        best = best_temperature(curve, key, higher)
        primary = task.metric().primary
        columns = ["temperature", "loss", primary] + [k for k, v in curve[0].items() if isinstance(v, float)]
        atomic_write_text(out_dir / "sweep.csv", _csv(curve, list(dict.fromkeys(columns))))
        plot_sweep(
            curve,
            best,
            out_dir / "sweep.png",
            f"{len(subset)} {cfg.data.name} training images at full resolution ({hw[0]}x{hw[1]} px)",
            key,
            task.metric().primary,
        )
        set_temperature(model, best["temperature"])
        config = replace(config, temperature=best["temperature"], head_temperatures=None)
        summary["sweep"] = {
            "temperatures": [sweep[0], sweep[-1], len(sweep)],
            "criterion": key,
            "best": best["temperature"],
            "loss": best["loss"],
            primary: best[primary],
            "at_1": next((r for r in curve if r["temperature"] == 1.0), None),
        }
        at_edge = len(sweep) > 1 and best["temperature"] in (sweep[0], sweep[-1])
        summary["sweep"]["at_edge"] = at_edge
        print(
            f"sweep: best temperature by {key} {best['temperature']:g} "
            f"(loss {best['loss']:.4f}, {primary} {best[primary]:.4f}) "
            f"-> {out_dir / 'sweep.csv'}, sweep.png"
        )
        if at_edge:
            print(
                f"warning: the best {key} is at the edge of the sweep ({sweep[0]:g} to {sweep[-1]:g}); "
                f"the minimum may lie outside it: widen --sweep"
            )

    if learn:
        init = config.temperature
        primary = task.metric().primary
        start = evaluate(task, model, subset, device, batch_size, bf16=bf16, progress=False)
        log = learn_head_temperatures(task, model, train_set, steps, lr, batch_size, device, seed, bf16, progress)
        end = evaluate(task, model, subset, device, batch_size, bf16=bf16, progress=False)
        values = head_temperatures(model)  # (layers, heads), just learned
        atomic_write_text(out_dir / "learn.csv", _csv(log, ["step", "loss", "lr", "mean", "min", "max"]))
        atomic_write_text(out_dir / "head_temperatures.json", json.dumps(values, indent=1))
        plot_learning(log, values, init, out_dir / "learn.png")
        config = replace(config, head_temperatures=values)
        summary["learn"] = {
            "init": init,
            "steps": steps,
            "lr": lr,
            "batch_size": batch_size,
            "seed": seed,
            "loss_before": start["loss"],
            "loss_after": end["loss"],
            f"{primary}_before": start[primary],
            f"{primary}_after": end[primary],
            **describe_temperature(model),
        }
        print(
            f"learn: loss on the {len(subset)} calibration images {start['loss']:.4f} -> {end['loss']:.4f}, "
            f"{format_temperature(describe_temperature(model))} -> {out_dir / 'learn.csv'}, learn.png"
        )

    summary["after"] = describe_temperature(model)
    previous = read_checkpoint_info(ckpt).get("calibration", {})
    if sweep is not None:
        previous.pop("learn", None)  # a new sweep replaces learned per-head values
    summary = {**previous, **summary, "before": previous.get("before", summary["before"])}
    atomic_write_text(out_dir / "calibration.json", json.dumps(summary, indent=2))
    update_checkpoint_info(ckpt, config, calibration=summary)
    print(
        f"stored in {checkpoint_paths(ckpt)[1]}: {format_temperature(summary['after'])} "
        f"(eval and predict use it; --temperature 1 gives the untuned model)"
    )
    return summary
