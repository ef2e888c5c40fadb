"""The run report: ``report.md`` (the task's metrics and rows, the set-up) and ``report.png`` (for a few
validation images, the task's pictures with the sampled training windows drawn on the inputs)."""

from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from ..files import atomic_write_text, save_figure
from ..inference import full_resolution
from ..tasks import Task
from .step import prepare

COLOURS = ["#ff3030", "#30a0ff", "#ffd000", "#30ff60", "#ff30ff", "#ffffff"]


def _draw_windows(ax, windows, patch: int) -> None:
    for i, (top, left, h, w) in enumerate(windows.boxes[0].tolist()):
        ax.add_patch(
            Rectangle(
                (left * patch - 0.5, top * patch - 0.5),
                w * patch,
                h * patch,
                fill=False,
                lw=2,
                ec=COLOURS[i % len(COLOURS)],
            )
        )


@torch.no_grad()
def save_report_figure(
    path: Path, task: Task, model: nn.Module, dataset, windows_spec, grid: tuple[int, int], device, count: int = 2
) -> None:
    """``count`` validation samples: the task's panels, with one sampled training window set on each input."""
    gen = torch.Generator().manual_seed(0)
    rows = []
    for i in range(min(count, len(dataset))):
        sample = dataset[i]
        raw = {k: (v[None] if isinstance(v, torch.Tensor) else [v]) for k, v in sample.items()}
        batch = prepare(task, raw, model.patch_size, "cpu")  # padded like a training batch, for the windows
        windows = task.sample_windows(windows_spec, grid, batch.target, batch.valid, gen)
        output = full_resolution(model, [x.to(device) for x in task.inputs(raw)])  # (1, K, H, W)
        prediction = task.predict(output.float())[0].cpu()
        rows.append((task.panels(sample, prediction), None if windows is None else task.window_sets(windows)))
    cols = max(len(panels) for panels, _ in rows)
    fig = Figure(figsize=(4.4 * cols, 2.1 * len(rows) + 0.4), dpi=100)
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for ax_row, (panels, window_sets) in zip(axes, rows):
        for ax in ax_row:
            ax.axis("off")
        for ax, panel in zip(ax_row, panels):
            ax.imshow(panel.image)
            ax.set_title(panel.title, fontsize=9)
            if panel.windows is not None and window_sets is not None:
                _draw_windows(ax, window_sets[panel.windows], model.patch_size)
    save_figure(fig, path)


def describe_windows(spec) -> str:
    if spec.mode == "windows":
        sizes = spec.window_sizes()
        return f"{len(sizes)} window(s) " + " + ".join(f"{h}x{w}" for h, w in sizes) + f" = {spec.num_tokens()} tokens"
    if spec.mode == "full":
        return "full-resolution training"
    return f"{spec.mode} ({spec.token_budget} tokens)"


def write_report(run_dir: Path, cfg, task: Task, model: nn.Module, val_set, metrics: dict, grid, device) -> None:
    save_report_figure(run_dir / "report.png", task, model, val_set, cfg.windows, grid, device)
    H, W = task.inputs(val_set[0])[0].shape[-2:]  # one sample: (3, H, W)
    m = cfg.model
    lines = [
        f"# {cfg.name}",
        "",
        f"- task **{task.name}**, full-resolution validation: {task.summary(metrics)}, loss {metrics['loss']:.4f} "
        f"({metrics['images']} images of {H}x{W} px, one forward each, attention temperature {m.temperature:g})",
        f"- training: {describe_windows(cfg.windows)} out of {grid[0]}x{grid[1]} = {grid[0] * grid[1]} tokens per "
        f"image, {cfg.train.steps} steps of batch {cfg.train.batch_size}",
        f"- model: {m.arch} (dim {m.embed_dim}, depth {m.depth}, {m.pos_embed}), {m.head} head, "
        f"{m.out_channels} output channels; data: {cfg.data.name}",
        "",
        *task.report_lines(metrics),
        "",
        "![validation images: task pictures, sampled training windows on the inputs](report.png)",
        "",
    ]
    note = getattr(val_set, "report_note", None)
    if note:
        lines.append(note)
    atomic_write_text(run_dir / "report.md", "\n".join(lines) + "\n")
