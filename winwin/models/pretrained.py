"""Starting a model from a pretrained file (``train.init``): CroCo / CroCo v2 or DINOv3, told apart by their keys."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import BadFileError
from .croco import init_from_croco
from .dinov3 import init_from_dinov3, read_dinov3

FORMATS = ("croco", "dinov3")


def checkpoint_format(path: str | Path) -> str:
    """ "croco" (``croco_kwargs`` or ``enc_blocks.*``) or "dinov3" (``dinov3_kwargs`` or ``blocks.*`` with a class
    token); any other file is an error that says what it holds."""
    state, kwargs = read_dinov3(path)  # the same safe, memory-mapped read; a CroCo file reads as {'model': ...}
    keys = list(state)
    if any(k.startswith("enc_blocks.") for k in keys):
        return "croco"
    if kwargs or (any(k.startswith("blocks.") for k in keys) and "patch_embed.proj.weight" in state):
        return "dinov3"
    raise BadFileError(
        path, f"is neither a CroCo nor a DINOv3 checkpoint (no enc_blocks.* or blocks.* keys; found {sorted(keys)[:6]})"
    )


def init_from_file(model: nn.Module, path: str | Path) -> list[str]:
    """Load a CroCo or DINOv3 file into ``model`` (strict key mapping); returns the parts loaded."""
    if checkpoint_format(path) == "croco":
        return init_from_croco(model, path)
    return init_from_dinov3(model, path)
