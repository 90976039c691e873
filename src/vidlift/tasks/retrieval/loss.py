"""The retrieval training loss: symmetric InfoNCE over the in-batch video-text similarities.

CLIP4Clip (Luo et al., Neurocomputing 2022, ``modules/modeling.py``: ``CrossEn`` applied to the
similarity matrix and to its transpose, averaged) and X-Pool (Gorti et al., CVPR 2022,
``modules/loss.py``: ``CLIPLoss``) train with the same objective as CLIP: for B videos with
their B captions, pair i is the positive of row i and column i, the other B - 1 entries of the
row (column) are negatives. The logits are scaled similarities (the model's logit scale).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy_diagonal(logits: torch.Tensor) -> torch.Tensor:
    """CLIP4Clip's ``CrossEn``: mean over rows of -log softmax(row)[i] for row i of (B, B)."""
    return -torch.diagonal(F.log_softmax(logits, dim=-1)).mean()


def symmetric_infonce(logits: torch.Tensor) -> torch.Tensor:
    """logits (B, B), pair i on the diagonal (either orientation) -> scalar loss: the mean of
    the video-to-text and text-to-video cross-entropies."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"expected square in-batch logits (B, B), got {tuple(logits.shape)}")
    logits = logits.float()
    return (cross_entropy_diagonal(logits) + cross_entropy_diagonal(logits.t())) / 2


__all__ = ["cross_entropy_diagonal", "symmetric_infonce"]
