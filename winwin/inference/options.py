"""Command-line options of the test-time strategy (``winwin eval`` / ``winwin predict``)."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .strategies import MODES, InferenceSpec


def add_inference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inference",
        default="full",
        choices=MODES,
        help="full: the whole image in one pass (default); tiling: overlapping tiles of --tile px blended; "
        "resize: the image resized to --tile px and the prediction back up",
    )
    p.add_argument("--tile", metavar="HxW", help="tiling: tile size in pixels; resize: the size to resize to")
    p.add_argument("--overlap", type=float, default=0.5, help="tiling: overlap ratio of neighbouring tiles [0, 1)")
    p.add_argument("--tile-batch", type=int, default=8, help="tiling: tiles per forward pass")


def parse_hw(text: str) -> tuple[int, int]:
    """'320x384' -> (320, 384)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts) or min(int(p) for p in parts) < 1:
        raise InputError(f"a size must be HxW in pixels, e.g. 320x384, got {text!r}")
    return int(parts[0]), int(parts[1])


def inference_spec(args: argparse.Namespace) -> InferenceSpec:
    """The strategy the options ask for, checked before any work."""
    tile = parse_hw(args.tile) if args.tile else None
    spec = InferenceSpec(args.inference, tile, args.overlap, args.tile_batch)
    try:
        spec.validate()
    except ValueError as e:
        raise InputError(f"{e} (--inference {args.inference} --tile HxW --overlap R)") from None
    return spec
