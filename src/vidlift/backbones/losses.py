"""The contrastive losses of image-language models, over a batch of B matched pairs.

One InfoNCE for every user: CLIP pretraining (the tiny ILFM, :mod:`vidlift.synthetic.pretrain`)
and text-video retrieval, whose references train with the same objective — CLIP4Clip (Luo et
al., Neurocomputing 2022, ``CrossEn`` on the similarity matrix and its transpose, averaged) and
X-Pool (Gorti et al., CVPR 2022, ``CLIPLoss``): pair i is the positive of row i and column i,
the other B − 1 entries of the row (column) its negatives. Logits are scaled similarities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_loss(logits: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP, Radford et al., ICML 2021): logits (B, B) with pair i on the
    diagonal, in either orientation -> scalar, the mean of the row-wise and the column-wise
    cross-entropies. Computed in float32 whatever the logits' dtype."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"expected square in-batch logits (B, B), got {tuple(logits.shape)}")
    logits = logits.float()
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def siglip_loss(logits: torch.Tensor) -> torch.Tensor:
    """SigLIP's pairwise sigmoid loss (Zhai et al., ICCV 2023) on (B, B) logits (bias included):
    −1/B Σ_ij log σ(z_ij·logit_ij), z = +1 on the diagonal (the pairs), −1 elsewhere."""
    n = logits.shape[0]
    z = 2 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1
    return -F.logsigmoid(z * logits).sum() / n


__all__ = ["clip_loss", "siglip_loss"]
