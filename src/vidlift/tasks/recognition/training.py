"""What the recognition task's training options add, checked and built from plain config values:
the head mapping, mixup / cutmix with soft targets, and prompt-template ensembles.

- ``head``: a head name, or ``{name: <head>, **its options}`` (``{name: linear, features:
  pre_projection, dropout: 0.5}``, :mod:`.heads`).
- ``mixup``: ``{mixup_alpha, cutmix_alpha, prob, switch_prob}`` (any subset; timm's defaults
  0.8, 1.0, 1.0, 0.5) turns on batch mixup / cutmix (Zhang et al., ICLR 2018; Yun et al., ICCV
  2019) as timm's ``Mixup`` in batch mode, the one X-CLIP, ViFi-CLIP, EVL and ST-Adapter train
  with (:class:`vidlift.data.augment.MixupCutmix`); the task's ``label_smoothing`` smooths the
  targets, and the loss is the soft-target cross-entropy (timm's ``SoftTargetCrossEntropy``).
  The draw of each batch is a function of (seed, epoch, the batch's clip indices), so a resumed
  run mixes as an uninterrupted one.
- ``prompt_ensemble``: ``actionclip`` (ActionCLIP's 16 templates) or a list of templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ...data.clips import seeded_generator
from .prompts import PROMPT_ENSEMBLES

MIXUP_KEYS = ("mixup_alpha", "cutmix_alpha", "prob", "switch_prob")


def parse_head(head: str | Mapping[str, Any], heads: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """``head`` config value -> (name, options); the options are checked by the head itself."""
    if isinstance(head, Mapping):
        options = dict(head)
        name = options.pop("name", None)
        if name is None:
            raise ValueError(f"recognition: head as a mapping needs a name (one of {', '.join(heads)}), "
                             f"e.g. {{name: linear, dropout: 0.5}}; got {dict(head)!r}")
    else:
        name, options = head, {}
    if name not in heads:
        raise ValueError(f"recognition: unknown head {name!r}; heads: {', '.join(heads)}")
    return name, options


def parse_mixup(mixup: Mapping[str, Any] | None) -> dict[str, float] | None:
    """``mixup`` config value -> MixupCutmix keyword arguments (None: off), values checked."""
    if mixup is None:
        return None
    if not isinstance(mixup, Mapping):
        raise ValueError(f"recognition: mixup must be a mapping of {', '.join(MIXUP_KEYS)} (or null), got {mixup!r}")
    unknown = [k for k in mixup if k not in MIXUP_KEYS]
    if unknown:
        raise ValueError(f"recognition: mixup.{unknown[0]} is not a mixup key; keys: {', '.join(MIXUP_KEYS)} "
                         "(label smoothing is the task's label_smoothing)")
    from ...data.augment import MixupCutmix

    try:
        MixupCutmix(1, **mixup)  # the values' own checks
    except (TypeError, ValueError) as e:
        raise ValueError(f"recognition: mixup: {e}") from None
    return dict(mixup)


def parse_prompt_ensemble(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``prompt_ensemble`` config value -> its templates (() when off)."""
    if value is None:
        return ()
    if isinstance(value, str):
        if value not in PROMPT_ENSEMBLES:
            raise ValueError(f"recognition: prompt_ensemble must be one of {', '.join(PROMPT_ENSEMBLES)} or a list of "
                             f"templates, got {value!r}")
        return tuple(PROMPT_ENSEMBLES[value])
    templates = tuple(value)
    bad = [t for t in templates if not isinstance(t, str) or t.count("{}") != 1]
    if not templates or bad:
        raise ValueError(f"recognition: prompt_ensemble templates must each hold exactly one '{{}}', "
                         f"got {bad[0] if bad else templates!r}")
    return templates


# Tags this stream apart from the per-clip ones keyed (seed, epoch, i[, k]) (vidlift.data.clips):
# without it a batch of clips [i, 1] drew exactly clip i's crop-and-flip numbers.
MIX_STREAM = 0x6D6978


def batch_generator(seed: int, epoch: int, indices: torch.Tensor) -> torch.Generator:
    """A CPU generator seeded by (seed, epoch, the batch's clip indices), a stream of its own."""
    flat = [int(i) for i in indices.reshape(-1).tolist()]
    return seeded_generator(seed, epoch, MIX_STREAM, len(flat), *flat)


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``-sum_c targets[c] · log_softmax(logits)[c]``: logits (B, C), targets
    (B, C) rows summing to 1 (timm's ``SoftTargetCrossEntropy``; with one-hot rows it is the
    cross-entropy)."""
    return torch.sum(-targets * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


__all__ = ["MIXUP_KEYS", "parse_head", "parse_mixup", "parse_prompt_ensemble", "batch_generator",
           "soft_target_cross_entropy"]
