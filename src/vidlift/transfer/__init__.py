"""Transfer paradigms: the survey's 2 roots and 9 families as declarative strategies that apply
to any backbone (see :mod:`vidlift.transfer.base`)."""

from .base import (
    FAMILIES, ROLES, ROOTS, MeanPool, Strategy, TransferCompositionError, TransferModel, VideoFeatures, VideoOutput,
)
from .delta import DeltaMismatchError, export_model, load_delta, load_exported, save_delta
from .registry import STRATEGIES, get_strategy

__all__ = [
    "FAMILIES", "ROLES", "ROOTS", "MeanPool", "Strategy", "TransferCompositionError", "TransferModel", "VideoFeatures",
    "VideoOutput", "DeltaMismatchError", "export_model", "load_delta", "load_exported", "save_delta", "STRATEGIES",
    "get_strategy",
]
