"""ViT encoder, binocular decoder, dense heads, the model registry and CroCo checkpoints."""

from .binocular import BinocularModel
from .config import ModelConfig
from .croco import init_from_croco, load_croco
from .decoder import CrossDecoder
from .encoder import ViTEncoder
from .monocular import DenseModel, MonocularModel
from .registry import ARCHS, build_model, create_model, list_models, model_config

__all__ = [
    "ARCHS",
    "BinocularModel",
    "CrossDecoder",
    "DenseModel",
    "ModelConfig",
    "MonocularModel",
    "ViTEncoder",
    "build_model",
    "create_model",
    "init_from_croco",
    "load_croco",
    "list_models",
    "model_config",
]
