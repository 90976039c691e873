"""Transfer paradigms: the survey's 2 roots and 9 families as declarative strategies that apply
to any backbone implementing the contract (:mod:`vidlift.backbones.contract`). The vocabulary
is :mod:`.base`, the model :mod:`.declarations` (what strategies declared) + :mod:`.model`
(the forward pass)."""

from .base import FAMILIES, ROLES, ROOTS, MeanPool, Strategy, TransferCompositionError, VideoFeatures, VideoOutput
from .delta import DeltaMismatchError, export_model, load_delta, load_exported, save_delta
from .model import TransferModel
from .registry import STRATEGIES, get_strategy

__all__ = [
    "FAMILIES", "ROLES", "ROOTS", "MeanPool", "Strategy", "TransferCompositionError", "TransferModel", "VideoFeatures",
    "VideoOutput", "DeltaMismatchError", "export_model", "load_delta", "load_exported", "save_delta", "STRATEGIES",
    "get_strategy",
]
