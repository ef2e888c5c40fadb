"""ViT encoder, dense heads and the model registry."""

from .config import ModelConfig
from .encoder import ViTEncoder
from .monocular import DenseModel, MonocularModel
from .registry import ARCHS, build_model, create_model, list_models, model_config

__all__ = [
    "ARCHS",
    "DenseModel",
    "ModelConfig",
    "MonocularModel",
    "ViTEncoder",
    "build_model",
    "create_model",
    "list_models",
    "model_config",
]
