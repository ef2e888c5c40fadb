"""Issue 8 diagnostic: does a flow model trained with flow-guided frame-2 windows match content, or read the
flow from where frame 2's windows were placed? Each trained run is scored on frame-1 window pixels (the
training loss's pixels) with frame 2's windows chosen three ways at test time: guided by the flow (as in
training), the same as frame 1's, or at random. A content-matching model does about as well with the same
windows (the matches of small motions are inside them) as with guided ones; a model that reads the placement
does well only with guided windows.

    .venv/bin/python experiments/flow_window_cue_check.py runs/flow_demo_s0_init runs/flow_demo_same_s0_init
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader

from winwin.data.synthetic_flow import SyntheticFlow
from winwin.engine.checkpoint import load_checkpoint
from winwin.engine.step import prepare, supervised_pixels
from winwin.tasks.flow import FlowSettings, FlowTask
from winwin.windows import WindowSpec

STRATEGIES = [("guided", [[3, 3]] * 4), ("same", None), ("random", [[3, 3]] * 4)]


def window_epe(run: str, frame2: str, sizes, pairs: int = 48) -> tuple[float, float]:
    """Mean EPE of the model and of zero flow over the valid frame-1 window pixels of ``pairs`` val pairs."""
    model, _ = load_checkpoint(f"{run}/checkpoints/last")
    model.eval()
    config = yaml.safe_load(Path(run, "config.yaml").read_text())
    scale = config["task"].get("flow_scale", 1.0)  # runs from before the setting: 1
    task = FlowTask(FlowSettings(frame2=frame2, frame2_sizes=sizes, flow_scale=scale))
    spec, gen = WindowSpec(num_windows=2, window_size=[4, 4]), torch.Generator().manual_seed(0)
    err = zero = count = 0.0
    for raw in DataLoader(SyntheticFlow("val", length=pairs), batch_size=16):
        batch = prepare(task, raw, model.patch_size, "cpu")
        grid = model.grid_size(batch.target.shape[-2:])
        windows = task.sample_windows(spec, grid, batch.target, batch.valid, gen)
        with torch.no_grad():
            out, target, valid = supervised_pixels(task, model(*batch.inputs, windows=windows), batch, windows, 16)
        out = task.in_pixels(out)  # (B, 3, P), flow in pixels
        err += (out[:, :2] - target).norm(dim=1)[valid].sum().item()  # target (B, 2, P)
        zero += target.norm(dim=1)[valid].sum().item()
        count += valid.sum().item()
    return err / count, zero / count


if __name__ == "__main__":
    torch.set_num_threads(1)
    print("| run | frame-2 windows at test | window EPE | zero flow |")
    print("|---|---|---|---|")
    for run in sys.argv[1:]:
        for frame2, sizes in STRATEGIES:
            epe, zero = window_epe(run, frame2, sizes)
            print(f"| {run} | {frame2} | {epe:.3f} | {zero:.3f} |", flush=True)
