"""Action-recognition metrics on a split's class scores: top-1, top-5, mean class accuracy.

Definitions (the ones Kinetics, SSv2, UCF101 and HMDB51 results are reported with):

- **top-k accuracy**: the share of clips whose true class is among the k highest scores
  (Kinetics' official metric reports top-1 and top-5; Kay et al., arXiv 1705.06950). With
  fewer than 5 classes, top-5 is computed with k = C (and is then 1).
- **mean class accuracy**: the top-1 recall of each class, averaged over classes — the
  ActivityNet/Kinetics-challenge "mean class accuracy" and mmaction2's
  ``mean_class_accuracy``. Classes with no clip in the split are **left out** of the mean
  (their recall is undefined), whether or not a clip was predicted as them. (torchmetrics'
  ``accuracy(average="macro")`` leaves out only classes that are neither a label nor a
  prediction; a class that is predicted but absent from the labels counts there as 0.)

All values are fractions in [0, 1]; an empty split gives NaN. Ties in the scores are broken
by ``torch.topk`` (as in torchmetrics); real-valued scores rarely tie.
"""

from __future__ import annotations

import math

import torch


def _check(scores: torch.Tensor, labels: torch.Tensor) -> None:
    if scores.ndim != 2:
        raise ValueError(f"expected scores (N, C), got shape {tuple(scores.shape)}")
    if labels.ndim != 1 or labels.shape[0] != scores.shape[0]:
        raise ValueError(f"expected labels (N,) for scores {tuple(scores.shape)}, got shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= scores.shape[1]):
        raise ValueError(f"labels must lie in [0, {scores.shape[1]}), got {int(labels.min())}..{int(labels.max())}")


def top_k_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """Share of rows of scores (N, C) whose label (N,) is among the ``min(k, C)`` highest scores."""
    _check(scores, labels)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if labels.numel() == 0:
        return math.nan
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices
    return float((top == labels.to(top.device)[:, None]).any(1).float().mean())


def per_class_accuracy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Top-1 recall of each class, (C,) float; NaN for classes without a clip in ``labels``."""
    _check(scores, labels)
    c = scores.shape[1]
    labels = labels.long().cpu()
    correct = (scores.argmax(1).cpu() == labels).double()
    support = torch.bincount(labels, minlength=c).double()
    hits = torch.zeros(c, dtype=torch.double).index_add_(0, labels, correct)
    return torch.where(support > 0, hits / support.clamp_min(1), torch.full_like(hits, math.nan))


def mean_class_accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over the classes present in ``labels`` of their top-1 recall (see module doc)."""
    acc = per_class_accuracy(scores, labels)
    present = acc[~acc.isnan()]
    return float(present.mean()) if present.numel() else math.nan


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """{"top1", "top5", "mean_class_accuracy"} of scores (N, C) (probabilities or logits;
    only their order matters) against labels (N,)."""
    return {
        "top1": top_k_accuracy(scores, labels, 1),
        "top5": top_k_accuracy(scores, labels, 5),
        "mean_class_accuracy": mean_class_accuracy(scores, labels),
    }


def negative_log_likelihood(probs: torch.Tensor, labels: torch.Tensor, eps: float = 1e-12) -> float:
    """Mean of -log p(true class) over rows of probabilities (N, C); with one test view this
    is the cross-entropy of the logits."""
    _check(probs, labels)
    if labels.numel() == 0:
        return math.nan
    p = probs.double().gather(1, labels.long().to(probs.device)[:, None]).squeeze(1)
    return float(-p.clamp_min(eps).log().mean())


__all__ = ["top_k_accuracy", "per_class_accuracy", "mean_class_accuracy", "classification_metrics",
           "negative_log_likelihood"]
