"""CLIP-family backbones: one model implementation, loaders for every public weight format."""

from .config import ARCHS, CLIPConfig, PreprocessConfig, TextConfig, VisionConfig, get_arch
from .factory import Backbone, BackboneLoadError, BackboneMeta, load_backbone, save_backbone
from .model import CLIP, clip_loss, count_parameters, siglip_loss

__all__ = [
    "ARCHS", "CLIPConfig", "PreprocessConfig", "TextConfig", "VisionConfig", "get_arch",
    "Backbone", "BackboneLoadError", "BackboneMeta", "load_backbone", "save_backbone",
    "CLIP", "clip_loss", "count_parameters", "siglip_loss",
]
