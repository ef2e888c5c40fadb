"""What exact resume costs: one checkpoint of ViT-Base + ConvNeXt head with its AdamW state (write with
fsync and SHA-256 manifest, then verify on resume), against a bare safetensors + torch.save of the same
tensors; and the per-sample cost of the derived data stream (seed derivation + a forked torch generator).

    .venv/bin/python experiments/engine_costs.py [--model base] [--out /tmp/engine_costs]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from winwin.engine.optim import build_optimizer
from winwin.engine.stream import SeededSamples, StepBatches
from winwin.engine.train_checkpoints import CheckpointStore
from winwin.models import create_model


def timed(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


class Tiny(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 10_000

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.rand(())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="base")
    ap.add_argument("--out", default="/tmp/engine_costs")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    model = create_model(args.model, head="convnext", out_channels=19)
    opt = build_optimizer(model, 1e-4, 0.05, 0.75, (0.9, 0.95))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # AdamW state (two moments per parameter)
    store = CheckpointStore(out / "store", keep=2)
    step = iter(range(1, 1000))
    t_store = timed(lambda: store.save(next(step), model, opt, None, {}, {"step": 0}))
    t_verify = timed(lambda: store.latest(report=lambda _: None))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}

    def bare() -> None:
        save_file(state, str(out / "bare.safetensors"))
        torch.save(opt.state_dict(), out / "bare.optim.pt")

    t_bare = timed(bare)
    size = sum(f.stat().st_size for f in store.step_folder(store.steps()[0]).iterdir()) / 2**20
    n = sum(p.numel() for p in model.parameters())
    print(f"model {args.model}: {n / 1e6:.1f} M parameters, checkpoint {size:.0f} MiB (weights + AdamW state)")
    print(f"checkpoint store save (fsync + sha256 manifest + last links): {t_store:.2f} s")
    print(f"bare safetensors + torch.save of the same tensors:          {t_bare:.2f} s")
    print(f"verify on resume (sha256 of every file):                    {t_verify:.2f} s")

    data = SeededSamples(Tiny())
    batches = list(StepBatches(len(data), 64, 0, 0, 100))
    plain = Tiny()
    t_seeded = timed(lambda: [data[k] for b in batches for k in b], repeat=1) / (64 * 100)
    t_plain = timed(lambda: [plain[i] for b in batches for i, _ in b], repeat=1) / (64 * 100)
    t_index = timed(lambda: list(StepBatches(len(data), 64, 0, 0, 100)), repeat=1) / (64 * 100)
    print(f"stream per sample: index + seed {t_index * 1e6:.1f} us, seeded fetch {t_seeded * 1e6:.1f} us "
          f"(plain fetch {t_plain * 1e6:.1f} us)")  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
