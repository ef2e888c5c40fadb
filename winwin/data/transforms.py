"""Image and label tensors: normalisation, file loading, joint flip and padding to a multiple of the patch.

Images are float32 ``(3, H, W)`` normalised with the ImageNet statistics (the backbones are pretrained with
them); labels are int64 ``(H, W)`` train ids where ``IGNORE_INDEX`` (255) marks pixels without a class.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import BadFileError, parser_errors

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
IGNORE_INDEX = 255

# Pillow modes that hold one integer per pixel ("P" is a palette image: its indices are the train ids).
MAX_IMAGE_FILE_BYTES = 1 << 30  # a larger file is refused before it is read
MAX_IMAGE_PIXELS = 1 << 25  # 33.5 megapixels (8K UHD fits): a larger header is a damaged file, not a photo
_LABEL_MODES = ("L", "P", "I", "I;16", "I;16L", "I;16B")


def _stats(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std shaped (3, 1, 1), on the device of ``like``, broadcastable to (..., 3, H, W)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=like.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=like.device).view(3, 1, 1)
    return mean, std


def to_tensor_image(rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> normalised float32 (3, H, W)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB array of shape (H, W, 3), got {rgb.dtype} {tuple(rgb.shape)}")
    if not rgb.flags.writeable:  # e.g. a cached sample; torch.from_numpy warns on read-only memory
        rgb = rgb.copy()
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)  # (3, H, W)
    mean, std = _stats(x)
    return x.sub_(mean).div_(std)


def denormalize(image: torch.Tensor) -> torch.Tensor:
    """Normalised (3, H, W) or (B, 3, H, W) -> float in [0, 1] with the same shape, for display."""
    if image.ndim not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"expected an image of shape (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
    mean, std = _stats(image)
    return (image.float() * std + mean).clamp_(0.0, 1.0)


def open_image(path: str | Path) -> Image.Image:
    """Open an image file (header only) or raise ``BadFileError`` saying why it cannot be one: not an image,
    or a header declaring more than ``MAX_IMAGE_PIXELS`` pixels (refused before any pixel is decoded)."""
    path = Path(path)
    if not path.is_file():
        raise BadFileError(path, "no such file" if not path.exists() else "not a file")
    size = path.stat().st_size
    if size > MAX_IMAGE_FILE_BYTES:
        raise BadFileError(path, f"is {size} bytes; an image file here is at most {MAX_IMAGE_FILE_BYTES} bytes")
    # Pillow decodes from memory: reading from a file, a damaged chunk length makes it ask for gigabytes.
    data = io.BytesIO(path.read_bytes())
    with parser_errors(path, "not an image file Pillow can read"), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit follows
        image = Image.open(data)
    if image.width * image.height > MAX_IMAGE_PIXELS:
        image.close()
        raise BadFileError(
            path, f"declares {image.width}x{image.height} (WxH) pixels; an image here has at most {MAX_IMAGE_PIXELS}"
        )
    return image


def decode_image(path: Path, im: Image.Image, mode: str | None) -> np.ndarray:
    """Decode the pixels (converted to ``mode``), turning truncated or corrupt data into ``BadFileError``."""
    with parser_errors(path, "image data is truncated or corrupt"):
        if mode is not None and im.mode != mode:
            im = im.convert(mode)
        return np.array(im)


def load_image(path: str | Path, size_hw: tuple[int, int] | None = None) -> torch.Tensor:
    """Image file -> normalised float32 (3, H, W); resized bilinearly to ``size_hw`` if given.
    A missing, truncated or non-image file raises ``BadFileError`` naming it."""
    path = Path(path)
    with open_image(path) as im:
        rgb = decode_image(path, im, "RGB")  # (H, W, 3) uint8
    if size_hw is not None and rgb.shape[:2] != tuple(size_hw):
        rgb = np.asarray(Image.fromarray(rgb).resize((size_hw[1], size_hw[0]), Image.Resampling.BILINEAR))
    return to_tensor_image(rgb)


def load_label(path: str | Path, size_hw: tuple[int, int] | None = None) -> torch.Tensor:
    """Single-channel train-id PNG -> int64 (H, W) (255 = ignore); resized with nearest if ``size_hw``."""
    path = Path(path)
    with open_image(path) as im:
        if im.mode not in _LABEL_MODES:
            raise BadFileError(
                path,
                f"label maps must be single-channel images of train ids (mode L or P), got mode "
                f"{im.mode!r}; colour-coded label images must first be converted to train ids",
            )
        label = decode_image(path, im, None)  # (H, W) uint8 / uint16 / int32
    if size_hw is not None and label.shape != tuple(size_hw):
        label = np.asarray(Image.fromarray(label).resize((size_hw[1], size_hw[0]), Image.Resampling.NEAREST))
    return torch.from_numpy(label.astype(np.int64))


def hflip(image: torch.Tensor, label: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mirror image (..., 3, H, W) and label (..., H, W) together along the width."""
    if label is not None and label.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"image {tuple(image.shape)} and label {tuple(label.shape)} differ in (H, W)")
    return image.flip(-1), (None if label is None else label.flip(-1))


def pad_to_multiple(
    image: torch.Tensor, multiple: int, label: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
    """Pad bottom/right so H and W become multiples of ``multiple`` (e.g. the patch size).

    image (..., 3, H, W) is padded with zeros (the dataset mean after normalisation), label (..., H, W) with
    ``IGNORE_INDEX``. Returns (padded image, padded label or None, original (H, W)); crop back with
    ``out[..., :H, :W]``.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be a positive integer (e.g. the patch size 16), got {multiple}")
    if image.ndim < 3:
        raise ValueError(f"expected an image of shape (..., 3, H, W), got {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if label is not None and label.shape[-2:] != (h, w):
        raise ValueError(f"image {tuple(image.shape)} and label {tuple(label.shape)} differ in (H, W)")
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), value=0.0)  # (..., 3, H + pad_h, W + pad_w)
        if label is not None:
            label = F.pad(label, (0, pad_w, 0, pad_h), value=IGNORE_INDEX)  # (..., H + pad_h, W + pad_w)
    return image, label, (h, w)
