"""Dense prediction heads: ``head(maps) -> (B, K, h*p, w*p)`` where ``maps`` are the (B, D, h, w) feature
maps of the encoder layers listed in ``head.layers`` (-1: the final normed output) for one window."""

from .convnext import ConvNeXtBlock, ConvNeXtHead
from .dpt import DPTHead
from .linear import LinearHead

__all__ = ["ConvNeXtBlock", "ConvNeXtHead", "DPTHead", "LinearHead"]
