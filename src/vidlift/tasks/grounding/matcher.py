"""Temporal spans and the Hungarian matcher of DETR-style grounding heads.

Spans are rows ``(..., 2)`` of fractions of a video's length, either ``(start, end)`` ("xx")
or ``(center, width)`` ("cxw", what Moment-DETR regresses). The matcher assigns each
ground-truth window of a query to one of the head's Q moment queries by minimising
``w_class · (−p_fg) + w_span · L1(cxw) + w_giou · (−gIoU)`` with
:func:`scipy.optimize.linear_sum_assignment`, as Moment-DETR does (Lei et al., "QVHighlights:
Detecting Moments and Highlights in Videos via Natural Language Queries", NeurIPS 2021;
github.com/jayleicn/moment_detr ``moment_detr/matcher.py``, ``span_utils.py``), itself DETR's
matcher (Carion et al., ECCV 2020) in one dimension.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment


def span_xx_to_cxw(spans: torch.Tensor) -> torch.Tensor:
    """(..., 2) (start, end) -> (..., 2) (center, width)."""
    return torch.stack([(spans[..., 0] + spans[..., 1]) / 2, spans[..., 1] - spans[..., 0]], dim=-1)


def span_cxw_to_xx(spans: torch.Tensor) -> torch.Tensor:
    """(..., 2) (center, width) -> (..., 2) (start, end)."""
    half = spans[..., 1] / 2
    return torch.stack([spans[..., 0] - half, spans[..., 0] + half], dim=-1)


def temporal_iou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and union of every pair of (start, end) spans: a (N, 2), b (M, 2) -> (N, M) each."""
    inter = (torch.minimum(a[:, None, 1], b[None, :, 1]) - torch.maximum(a[:, None, 0], b[None, :, 0])).clamp(min=0)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    return inter / union, union


def generalized_temporal_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU (Rezatofighi et al., CVPR 2019) of (start, end) spans a (N, 2) and
    b (M, 2) -> (N, M) in [-1, 1]: IoU minus the share of the enclosing span that neither
    covers. Spans must have end >= start (a regression head's sigmoid widths do)."""
    a, b = a.float(), b.float()
    if bool((a[:, 1] < a[:, 0]).any()) or bool((b[:, 1] < b[:, 0]).any()):
        raise ValueError("generalized_temporal_iou: a span ends before it starts")
    iou, union = temporal_iou(a, b)
    enclosing = (torch.maximum(a[:, None, 1], b[None, :, 1]) - torch.minimum(a[:, None, 0], b[None, :, 0])).clamp(min=0)
    return iou - (enclosing - union) / enclosing


class HungarianMatcher:
    """One-to-one assignment of ground-truth windows to moment queries (module docstring).

    Args:
        cost_class, cost_span, cost_giou: weights of the three costs (Moment-DETR's
            ``set_cost_class`` 4, ``set_cost_span`` 10, ``set_cost_giou`` 1).
        foreground: the class index of "a moment" in the head's logits (Moment-DETR: 0).
    """

    def __init__(self, cost_class: float = 4.0, cost_span: float = 10.0, cost_giou: float = 1.0,
                 foreground: int = 0) -> None:
        if cost_class == 0 and cost_span == 0 and cost_giou == 0:
            raise ValueError("HungarianMatcher: the three costs cannot all be 0")
        self.cost_class, self.cost_span, self.cost_giou = cost_class, cost_span, cost_giou
        self.foreground = foreground

    def cost(self, logits: torch.Tensor, spans: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The cost matrix of one query: logits (Q, 2), spans (Q, 2) cxw, target (M, 2) cxw -> (Q, M)."""
        prob = logits.float().softmax(-1)[:, self.foreground]  # the NLL approximated by -p, as DETR
        c_span = torch.cdist(spans.float(), target.float(), p=1)
        c_giou = -generalized_temporal_iou(span_cxw_to_xx(spans), span_cxw_to_xx(target))
        return self.cost_span * c_span + self.cost_giou * c_giou - self.cost_class * prob[:, None]

    @torch.no_grad()
    def __call__(self, logits: torch.Tensor, spans: torch.Tensor,
                 targets: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """logits (B, Q, 2), spans (B, Q, 2) cxw, targets: per query (M_i, 2) cxw -> per query
        (query indices, target indices), each of length min(Q, M_i), int64 on the CPU."""
        out = []
        for b, target in enumerate(targets):
            if len(target) == 0:
                empty = torch.zeros(0, dtype=torch.int64)
                out.append((empty, empty))
                continue
            c = self.cost(logits[b], spans[b], target.to(spans.device)).cpu()
            rows, cols = linear_sum_assignment(c.numpy())
            out.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return out


__all__ = ["HungarianMatcher", "generalized_temporal_iou", "span_cxw_to_xx", "span_xx_to_cxw", "temporal_iou"]
