"""What every dense model shares (monocular and binocular): its encoder's patch grid, its attention layers
and their temperature, and its head on top of the lr-decay depth order."""

from __future__ import annotations

from torch import nn

from ..layers import AttentionBase
from .config import ModelConfig
from .encoder import ViTEncoder
from .temperature import attention_layers, set_temperature


class DenseModelBase(nn.Module):
    """Base of the dense models: ``config``, ``encoder`` and ``head``; subclasses add ``forward`` (and a
    decoder, for two frames)."""

    num_inputs = 1  # images per prediction

    def __init__(self, config: ModelConfig, encoder: ViTEncoder, head: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.head = head

    @property
    def patch_size(self) -> int:
        return self.encoder.patch_size

    def grid_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        return self.encoder.patch_embed.grid_size(hw)

    def attention_layers(self) -> list[AttentionBase]:
        """Every attention module of the model, in module order (the temperature applies to all of them)."""
        return attention_layers(self)

    def set_temperature(self, value: float) -> None:
        """One attention temperature everywhere (drops learned per-head values)."""
        set_temperature(self, value)

    def _trunk_groups(self) -> list[list[nn.Module]]:
        """Modules by depth below the head (the encoder's; a binocular model adds its decoder's)."""
        return self.encoder.layer_groups()

    def layer_groups(self) -> list[list[nn.Module]]:
        """Modules by depth for layer-wise lr decay; the head shares the top group (the final norm)."""
        groups = self._trunk_groups()
        groups[-1].append(self.head)
        return groups
