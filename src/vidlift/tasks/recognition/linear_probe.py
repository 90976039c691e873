"""Linear probe: multinomial logistic regression on frozen clip features.

CLIP's evaluation protocol (Radford et al., ICML 2021, §3.2) fits an L2-regularised logistic
regression with L-BFGS on frozen features; this is the same estimator in torch (full batch,
``torch.optim.LBFGS``), so it runs on the tensors the feature runner already returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LinearProbe:
    """A fitted probe: ``predict(features)`` -> class indices; features are L2-normalised
    first, as at fit time."""

    head: nn.Linear

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """features (N, D) -> class logits (N, K)."""
        with torch.no_grad():
            return self.head(F.normalize(features.float(), dim=-1))

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """features (N, D) -> class indices (N,)."""
        return self.logits(features).argmax(-1)


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
    seed: int = 0,
) -> LinearProbe:
    """Fit on features (N, D) and integer labels (N,); ``weight_decay`` is the L2 penalty on
    the weights (mean cross-entropy + wd·‖W‖²)."""
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise ValueError("expected features (N, D) and labels (N,), "
                         f"got {tuple(features.shape)} and {tuple(labels.shape)}")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes})")
    labels = labels.long()
    x = F.normalize(features.float(), dim=-1)
    g = torch.Generator().manual_seed(seed)
    head = nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=g) * 0.01)
        head.bias.zero_()
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(head(x), labels) + weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return LinearProbe(head.eval())


def top1_accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of predictions (N,) equal to labels (N,); NaN for N = 0."""
    return float((predictions == labels).float().mean()) if len(labels) else float("nan")
