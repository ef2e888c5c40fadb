"""ViT encoder, dense heads and the model registry."""

from .config import ModelConfig
from .encoder import ViTEncoder
from .registry import ARCHS, apply_head_temperatures, build_model, create_model, list_models, model_config
from .segmenter import DenseModel

__all__ = [
    "ARCHS",
    "DenseModel",
    "ModelConfig",
    "ViTEncoder",
    "apply_head_temperatures",
    "build_model",
    "create_model",
    "list_models",
    "model_config",
]
