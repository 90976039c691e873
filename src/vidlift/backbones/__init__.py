"""Backbones: the contract every family implements (:mod:`.contract`), the families
(:mod:`.registry`; CLIP/SigLIP in this package), and one factory for every public weight format."""

# Last: the families outside the CLIP core register themselves on import (EVA-CLIP), so that
# FAMILIES is complete as soon as vidlift.backbones is.
from . import families  # noqa: E402, F401, I001
from .config import ARCHS, CLIPConfig, PreprocessConfig, TextConfig, VisionConfig
from .contract import BackboneCapabilityError, TextEncoder, TokenLayout, TowerBlock, VisionLanguageBackbone
from .factory import FORMATS, Backbone, BackboneLoadError, BackboneMeta, load_backbone, save_backbone
from .losses import clip_loss, siglip_loss
from .model import CLIP, count_parameters
from .registry import FAMILIES, Family, arch_names, build_model, get_arch, register_family

__all__ = [
    "ARCHS", "CLIPConfig", "PreprocessConfig", "TextConfig", "VisionConfig", "get_arch",
    "BackboneCapabilityError", "TextEncoder", "TokenLayout", "TowerBlock", "VisionLanguageBackbone",
    "FORMATS", "FAMILIES", "Family", "arch_names", "build_model", "register_family",
    "Backbone", "BackboneLoadError", "BackboneMeta", "load_backbone", "save_backbone",
    "CLIP", "clip_loss", "count_parameters", "siglip_loss",
]
