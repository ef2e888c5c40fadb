"""Full-resolution inference on image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data.palette import colorize, make_palette
from .data.transforms import load_image
from .engine.checkpoint import atomic_write
from .models.temperature import temperature_override
from .models import DenseModel


@torch.no_grad()
def predict_labels(model: DenseModel, image: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
    """image: normalized (3, H, W) -> (H, W) int64 labels, one forward on the full image."""
    model.eval()
    device = next(model.parameters()).device
    with temperature_override(model, temperature):
        return model(image[None].to(device)).argmax(1)[0].cpu()


def predict_file(model: DenseModel, image_path: str | Path, out_path: str | Path, palette: np.ndarray | None = None,
                 temperature: float | None = None) -> np.ndarray:
    """Predict one image file and write a colour-coded label PNG. Returns the (H, W) label map."""
    image_path, out_path = Path(image_path), Path(out_path)
    if not image_path.exists():
        raise FileNotFoundError(f"image {image_path} does not exist")
    if out_path.suffix.lower() != ".png":
        raise ValueError(f"output must be a .png file, got {out_path}")
    labels = predict_labels(model, load_image(image_path), temperature).numpy()
    palette = palette if palette is not None else make_palette(model.config.num_classes)
    rgb = colorize(labels, palette)
    atomic_write(out_path, lambda tmp: Image.fromarray(rgb).save(tmp, format="PNG"))
    return labels
