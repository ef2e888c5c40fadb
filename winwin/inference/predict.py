"""Predict image files with a trained model and write what the task writes (raw values + a picture)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import InputError
from ..tasks import Task
from .strategies import InferenceSpec, infer


def predict_files(
    model: nn.Module,
    task: Task,
    images: list[str | Path],
    output: str | Path,
    viz: str | Path | None = None,
    temperature: float | None = None,
    inference: InferenceSpec | None = None,
) -> str:
    """Read ``images`` (the task's inputs, e.g. one image or a frame pair), predict (at full resolution in
    one forward unless ``inference`` says otherwise) and write ``output`` (and the picture ``viz``). Bad paths
    and files raise ``InputError`` before the model runs. Returns the task's description of what was written."""
    output, viz = Path(output), (Path(viz) if viz is not None else None)
    task.check_output(output)
    if viz is not None and viz.suffix.lower() != ".png":
        raise InputError(f"{viz}: --viz writes a .png picture")
    inputs = task.load_inputs([Path(p) for p in images])  # each (1, 3, H, W)
    device = next(model.parameters()).device
    out = infer(model, task, [x.to(device) for x in inputs], inference, temperature)  # (1, K, H, W)
    prediction = task.predict(out.float())[0].cpu()
    return task.write_prediction(prediction, output, viz)
