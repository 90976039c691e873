"""Action-recognition metrics on a split's class scores: top-1, top-5, mean class accuracy.

Definitions (the ones Kinetics, SSv2, UCF101 and HMDB51 results are reported with):

- **top-k accuracy**: the share of clips whose true class is among the k highest scores
  (Kinetics' official metric reports top-1 and top-5; Kay et al., arXiv 1705.06950). With
  fewer than 5 classes, top-5 is computed with k = C (and is then 1).
- **mean class accuracy**: the top-1 recall of each class, averaged over classes, as
  mmaction2's ``mean_class_accuracy`` (``mmaction/evaluation/functional/accuracy.py``, the
  metric AIM's and mmaction2's configs report): it averages over the classes of its
  ``confusion_matrix``, the union of the true and the predicted classes, and a class that is
  predicted but has no clip in the split counts as 0 (``hit / cnt if cnt else 0.0``). A class
  that is neither a label nor a prediction is left out. torchmetrics'
  ``accuracy(average="macro")`` gives the same value.

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
    """Top-1 recall of each class, (C,) float; NaN for classes without a clip in ``labels``
    (their recall is undefined; :func:`mean_class_accuracy` counts those that are predicted as 0)."""
    _check(scores, labels)
    c = scores.shape[1]
    labels = labels.long().cpu()
    correct = (scores.argmax(1).cpu() == labels).double()
    support = torch.bincount(labels, minlength=c).double()
    hits = torch.zeros(c, dtype=torch.double).index_add_(0, labels, correct)
    return torch.where(support > 0, hits / support.clamp_min(1), torch.full_like(hits, math.nan))


def mean_class_accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean top-1 recall over the classes that are a label or a prediction, a predicted class
    without clips counting 0 (mmaction2's definition, see module doc)."""
    acc = per_class_accuracy(scores, labels)
    predicted = torch.zeros(acc.shape[0], dtype=torch.bool)
    predicted[scores.argmax(1).cpu()] = True
    counted = torch.where(acc.isnan() & predicted, torch.zeros_like(acc), acc)
    counted = counted[~counted.isnan()]
    return float(counted.mean()) if counted.numel() else math.nan


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
