"""Every transfer strategy, one line each: ``name -> class``. ``vidlift transfers`` lists them."""

from __future__ import annotations

from .adapted import (
    AIM,
    XCLIP,
    AdaptFormer,
    CoOp,
    DividedSpaceTime,
    FullFinetune,
    Lora,
    PartialTuning,
    STAdapter,
    Vpt,
    XClipPrompt,
)
from .base import Strategy
from .frozen import EVL, Distillation, MeanPoolHead, R2Tuning, TemporalConv, TemporalTransformer, TowerCompression

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    # frozen features
    Distillation,  # knowledge distillation (soft targets from a frozen teacher)
    TowerCompression,  # knowledge distillation (a smaller image tower learns the frozen one)
    MeanPoolHead,  # post-network tuning
    TemporalTransformer,  # post-network tuning
    TemporalConv,  # post-network tuning
    EVL,  # side-tuning
    R2Tuning,  # side-tuning
    # adapted features
    FullFinetune,  # full fine-tuning
    PartialTuning,  # partial tuning
    XCLIP,  # fine-tuning with extra models
    DividedSpaceTime,  # fine-tuning with extra models
    AdaptFormer,  # adapter
    STAdapter,  # adapter
    AIM,  # adapter
    Lora,  # LoRA
    CoOp,  # prompt tuning
    Vpt,  # prompt tuning
    XClipPrompt,  # prompt tuning
)}


def get_strategy(name: str, **hyperparameters) -> Strategy:
    """A strategy by registry name with hyper-parameters overriding its defaults."""
    if name not in STRATEGIES:
        raise KeyError(f"unknown transfer strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name](**hyperparameters)
