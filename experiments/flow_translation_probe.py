"""Issue 8 diagnostic: can the small flow model learn the easiest flow there is, one textured layer moved by a
global translation (up to 12% of the width either way), trained at full resolution with the end-point error?

It prints the validation EPE every 50 steps beside the EPE of predicting zero flow. Settings: the position
embedding, the flow scale (the network predicts flow / scale pixels) and a CroCo-format file to start from.

    .venv/bin/python experiments/flow_translation_probe.py --flow-scale 16 --init runs/flow_pretrain/croco.pth
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from winwin.data.synthetic_flow import SyntheticFlow
from winwin.data.synthetic_flow_scene import FlowSceneSpec
from winwin.models.croco import init_from_croco
from winwin.models.registry import build_model, model_config
from winwin.tasks.flow import FlowSettings, FlowTask

TRANSLATION = FlowSceneSpec(num_shapes=(0, 0), background_translation=0.12, background_rotation=0.0,
                            background_scale=0.0)  # fmt: skip


def evaluate(model: torch.nn.Module, task: FlowTask, val: SyntheticFlow) -> tuple[float, float]:
    """(model EPE, zero-flow EPE) over the valid pixels of ``val``."""
    model.eval()
    err = zero = count = 0.0
    with torch.no_grad():
        for b in DataLoader(val, batch_size=16):
            flow = task.predict(model(b["image1"], b["image2"]))  # (B, 2, H, W) pixels
            valid = b["valid"]
            err += (flow - b["flow"]).norm(dim=1)[valid].sum().item()
            zero += b["flow"].norm(dim=1)[valid].sum().item()
            count += valid.sum().item()
    model.train()
    return err / count, zero / count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pos-embed", default="rope")
    p.add_argument("--flow-scale", type=float, default=16.0)
    p.add_argument("--init", default=None, help="CroCo-format .pth to start from")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    hw = (96, 192)
    train = SyntheticFlow("train", length=4000, image_hw=hw, spec=TRANSLATION)
    val = SyntheticFlow("val", length=32, image_hw=hw, spec=TRANSLATION)
    task = FlowTask(FlowSettings(loss="epe", flow_scale=a.flow_scale))
    cfg = model_config("demo", binocular=True, head="dpt", dpt_features=32, out_channels=2, pos_embed=a.pos_embed)
    model = build_model(cfg)
    if a.init:
        init_from_croco(model, a.init)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
    step, t0 = 0, time.time()
    while step < a.steps:
        for b in DataLoader(train, batch_size=16, shuffle=True):
            out = model(b["image1"], b["image2"])  # (B, 2, H, W)
            loss = task.loss(out.flatten(2), b["flow"].flatten(2), b["valid"].flatten(1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 50 == 0:
                epe, zero = evaluate(model, task, val)
                print(f"step {step} loss {loss.item():.3f} val EPE {epe:.3f} zero flow {zero:.3f} "
                      f"{time.time() - t0:.0f} s", flush=True)  # fmt: skip
            if step >= a.steps:
                break


if __name__ == "__main__":
    main()
