"""The run report: ``report.md`` (mIoU, per-class IoU, set-up) and ``report.png`` (input with the sampled
training windows, full-resolution prediction, ground truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..data.palette import colorize
from ..data.transforms import denormalize
from ..models import DenseModel
from .checkpoint import atomic_write, atomic_write_text


@torch.no_grad()
def save_figure(path: Path, model: DenseModel, dataset, windows_spec, grid: tuple[int, int], device, count: int = 2) -> None:
    model.eval()
    gen = torch.Generator().manual_seed(0)
    fig = Figure(figsize=(13, 2.1 * count + 0.4), dpi=100)
    axes = fig.subplots(count, 3, squeeze=False)
    p = model.patch_size
    for row in range(count):
        item = dataset[row]
        image, label = item["image"], item["label"]
        pred = model(image[None].to(device)).argmax(1)[0].cpu()  # (H, W)
        rgb = denormalize(image).permute(1, 2, 0).clamp(0, 1).numpy()
        panels = [
            ("input + training windows", rgb),
            ("prediction (full image, one pass)", colorize(pred.numpy(), dataset.palette)),
            ("ground truth", colorize(label.numpy(), dataset.palette)),
        ]
        for ax, (title, pic) in zip(axes[row], panels):
            ax.imshow(pic)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        windows = windows_spec.sample(grid, 1, gen)
        if windows is not None:
            colors = ["#ff3030", "#30a0ff", "#ffd000", "#30ff60", "#ff30ff", "#ffffff"]
            for i, (top, left, h, w) in enumerate(windows.boxes[0].tolist()):
                axes[row][0].add_patch(
                    Rectangle((left * p - 0.5, top * p - 0.5), w * p, h * p, fill=False, lw=2, ec=colors[i % len(colors)])
                )
    fig.tight_layout()
    FigureCanvasAgg(fig)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def write_report(run_dir: Path, cfg, model: DenseModel, val_set, metrics: dict, grid, device) -> None:
    save_figure(run_dir / "report.png", model, val_set, cfg.windows, grid, device)
    w = cfg.windows
    if w.mode == "windows":
        sizes = w.window_sizes()
        desc = f"{len(sizes)} window(s) " + " + ".join(f"{h}x{ww}" for h, ww in sizes) + f" = {w.num_tokens()} tokens"
    elif w.mode == "full":
        desc = "full-resolution training"
    else:
        desc = f"{w.mode} ({w.token_budget} tokens)"
    H, W = val_set[0]["image"].shape[-2:]
    lines = [
        f"# {cfg.name}",
        "",
        f"- full-resolution validation **mIoU {100 * metrics['miou']:.2f}**, pixel accuracy {100 * metrics['pixel_acc']:.2f}, "
        f"loss {metrics['loss']:.4f} ({metrics['images']} images, one forward each, attention temperature "
        f"{cfg.model.temperature:g})",
        f"- training: {desc} out of {grid[0]}x{grid[1]} = {grid[0] * grid[1]} tokens per image, "
        f"{cfg.train.steps} steps of batch {cfg.train.batch_size}; test images {H}x{W} px",
        f"- model: {cfg.model.arch} (dim {cfg.model.embed_dim}, depth {cfg.model.depth}, {cfg.model.pos_embed}), "
        f"{cfg.model.head} head; data: {cfg.data.name}",
        "",
        "| class | IoU |",
        "|---|---|",
    ]
    for name, iou in zip(val_set.classes, metrics["iou"]):
        lines.append(f"| {name} | {'n/a' if np.isnan(iou) else f'{100 * iou:.2f}'} |")
    lines += ["", "![input, windows, prediction, ground truth](report.png)", ""]
    if cfg.data.name == "synthetic":
        lines.append(
            "Synthetic data has a long-range cue by construction, which exaggerates the gap between window and "
            "crop training; the paper's real-data gap (BDD100k, Table 2) is 61.8 vs 63.6 mIoU."
        )
    atomic_write_text(run_dir / "report.md", "\n".join(lines) + "\n")
