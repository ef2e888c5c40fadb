"""A benchmark submission: every pair (or image) of a test split predicted and written where the benchmark's
tools expect it. The dataset names each item's file (``submission_name``, e.g. Sintel's
``{pass}/{scene}/frame_n.flo``); the task writes the prediction in the format that file's suffix says."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from ..errors import InputError
from ..tasks import Task
from .strategies import InferenceSpec, infer


def write_submission(
    model: nn.Module,
    task: Task,
    dataset: Dataset,
    out_dir: str | Path,
    inference: InferenceSpec | None = None,
    temperature: float | None = None,
    progress: bool = True,
) -> int:
    """Predict every item of ``dataset`` (one at a time: benchmark images differ in size) and write it under
    ``out_dir``; returns the number of files written. A dataset without a submission format, or a file type
    the task cannot write, is refused before the model runs."""
    name = getattr(dataset, "submission_name", None)
    if name is None or len(dataset) == 0:
        raise InputError(f"{type(dataset).__name__} has no benchmark submission format (or no items)")
    out_dir = Path(out_dir)
    paths = [out_dir / name(i) for i in range(len(dataset))]
    for suffix in sorted({p.suffix for p in paths}):
        task.check_output(out_dir / f"x{suffix}")
    device = next(model.parameters()).device
    with torch.no_grad():
        for index, path in enumerate(tqdm(paths, desc="submission", disable=not progress, leave=False)):
            sample = dataset[index]
            batch = {k: v[None] if isinstance(v, torch.Tensor) else v for k, v in sample.items()}  # a batch of 1
            inputs = [x.to(device) for x in task.inputs(batch)]  # each (1, 3, H, W)
            out = infer(model, task, inputs, inference, temperature)  # (1, K, H, W)
            path.parent.mkdir(parents=True, exist_ok=True)
            task.write_prediction(task.predict(out.float())[0].cpu(), path)
    return len(paths)
