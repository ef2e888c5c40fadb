"""ViT encoder, binocular decoder, dense heads, the model registry, CroCo and DINOv3 checkpoints."""

from .binocular import BinocularModel
from .config import ModelConfig
from .croco import init_from_croco, load_croco
from .decoder import CrossDecoder
from .dinov3 import init_from_dinov3, load_dinov3, save_dinov3
from .encoder import EncoderTokens, ViTEncoder
from .monocular import DenseModel, MonocularModel
from .pretrained import init_from_file
from .registry import ARCHS, build_model, create_model, list_models, model_config

__all__ = [
    "ARCHS",
    "BinocularModel",
    "CrossDecoder",
    "DenseModel",
    "EncoderTokens",
    "ModelConfig",
    "MonocularModel",
    "ViTEncoder",
    "build_model",
    "create_model",
    "init_from_croco",
    "init_from_dinov3",
    "init_from_file",
    "load_croco",
    "load_dinov3",
    "list_models",
    "model_config",
    "save_dinov3",
]
