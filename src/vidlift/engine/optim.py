"""The one optimiser and schedule of vidlift: AdamW parameter groups (a learning-rate multiplier
and a weight-decay rule per parameter) and linear warm-up then cosine to a floor.

Used by the training engine (:class:`~vidlift.engine.module.TransferTaskModule`) and by the
tiny-ILFM pretraining recipe (:func:`vidlift.synthetic.pretrain.build_optimizer`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from ..transfer import TransferModel

def is_gain_or_bias(name: str, param: torch.Tensor) -> bool:
    """Gains, biases and scalars (ndim < 2): never decayed, as CLIP and most recipes."""
    return param.ndim < 2


def param_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], lr: float, weight_decay: float,
                 lr_scale: Callable[[str], float] = lambda name: 1.0,
                 no_decay: Callable[[str, torch.Tensor], bool] = is_gain_or_bias) -> list[dict[str, Any]]:
    """AdamW parameter groups: ``lr × lr_scale(name)`` and ``weight_decay`` (0 where
    ``no_decay(name, param)``), one group per distinct (rate, decay), in order of first
    appearance, parameters in the given order. Pass only the parameters that train."""
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, p in named_parameters:
        wd = 0.0 if no_decay(name, p) else weight_decay
        groups.setdefault((lr * lr_scale(name), wd), []).append(p)
    return [{"params": ps, "lr": g_lr, "weight_decay": wd} for (g_lr, wd), ps in groups.items()]


def transfer_param_groups(model: TransferModel, lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """:func:`param_groups` of a TransferModel's trainable parameters with its strategies' rates
    (``model.lr_scale``: layer-wise decay, new modules) and decay rule (``model.no_weight_decay``:
    gains, biases, token and position tables)."""
    return param_groups(model.trainable_parameters(), lr, weight_decay, lr_scale=model.lr_scale,
                        no_decay=model.no_weight_decay)


def warmup_steps_of(total_steps: int, warmup_steps: int = 0, warmup_ratio: float = 0.0) -> int:
    """Warm-up length in optimiser steps: ``warmup_steps``, or ``warmup_ratio`` of all steps,
    rounded up (a ratio above 0 always gives at least one warm-up step)."""
    if warmup_ratio:
        return math.ceil(warmup_ratio * total_steps)
    return int(warmup_steps)


def warmup_cosine(total_steps: int, warmup_steps: int, min_lr_ratio: float = 0.0) -> Callable[[int], float]:
    """The learning-rate factor at optimiser step ``step`` (0-based, as LambdaLR counts): linear
    warm-up to 1 over ``warmup_steps`` (the first step already at 1/warmup_steps), then cosine
    from 1 down to ``min_lr_ratio``, reached at ``total_steps`` and held after."""
    floor = float(min_lr_ratio)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def warmup_cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                           min_lr_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """:func:`warmup_cosine` applied to every group's rate; step it once per optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, warmup_steps, min_lr_ratio))


__all__ = ["param_groups", "transfer_param_groups", "is_gain_or_bias", "warmup_steps_of", "warmup_cosine",
           "warmup_cosine_schedule"]
