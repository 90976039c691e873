"""Moment-DETR's training losses: matched span L1 + gIoU, foreground/background classification,
the saliency margin loss, and QD-DETR's rank-contrastive saliency loss.

Following the official code (github.com/jayleicn/moment_detr ``moment_detr/model.py``
``SetCriterion``; ``start_end_dataset.py`` ``get_saliency_labels``):

- spans: L1 between matched predicted and ground-truth (center, width), mean over the matched
  coordinates; gIoU loss ``1 - gIoU`` of the matched pairs, mean;
- labels: cross-entropy over (foreground, background) of *every* query, the background class
  weighted ``eos_coef`` (0.1), averaged over all B·Q queries (the official ``reduction="none"``
  then ``mean()``, not the weight-normalised mean);
- saliency (last layer only): per query, 2 (positive, negative) clip pairs — the relevant clip
  with the highest summed annotator score against the one with the lowest (hard), and a random
  relevant clip against a random clip outside them (easy); hinge ``max(0, margin + s_neg -
  s_pos)`` summed, divided by B·pairs and doubled (the official scale). A query whose
  annotation has no saliency scores (Charades-STA, TACoS, ActivityNet: windows only) has no
  ranking among its relevant clips, so both of its pairs are easy ones, two distinct random
  relevant clips against two random clips outside them, as the official
  ``get_saliency_labels_sub_as_query`` (its window-only pre-training path); a video that such
  a query covers entirely has no negative and is left out (the official code would fail).
- rank-contrastive (Moon et al., "Query-Dependent Video Representation for Moment Retrieval
  and Highlight Detection", CVPR 2023; github.com/wjun0830/QD-DETR ``qd_detr/model.py``
  ``loss_saliency``): for every rank r = 1..11 the clips scored >= r are positives of a
  softmax over the video's real clips (temperature 0.5), averaged over the positives;
  the sum over r is divided by 12 as in the official code (whose drop mask, labels above
  100, never applies and is left out). QD-DETR also appends the scores of the
  video paired with *other* queries as extra negatives; Moment-DETR has no such pass, so they
  are left out here.

Random choices (the easy pairs) draw from torch's global generator, which the engine seeds
per step, so a run reproduces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .matcher import HungarianMatcher, generalized_temporal_iou, span_cxw_to_xx


def span_losses(spans: torch.Tensor, targets: list[torch.Tensor],
                indices: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(L1, gIoU loss) of the matched pairs: spans (B, Q, 2) cxw, targets per query (M_i, 2) cxw.
    Zero (with a graph) when no query has a window."""
    src = torch.cat([spans[b, i] for b, (i, _) in enumerate(indices)])
    if len(src) == 0:
        zero = spans.sum() * 0
        return zero, zero
    tgt = torch.cat([targets[b].to(spans)[j] for b, (_, j) in enumerate(indices)])
    l1 = F.l1_loss(src, tgt, reduction="none").mean()
    giou = (1 - torch.diag(generalized_temporal_iou(span_cxw_to_xx(src), span_cxw_to_xx(tgt)))).mean()
    return l1, giou


def label_loss(logits: torch.Tensor, indices: list[tuple[torch.Tensor, torch.Tensor]], eos_coef: float,
               foreground: int = 0) -> torch.Tensor:
    """Weighted cross-entropy of logits (B, Q, 2): matched queries foreground, the rest
    background (weight ``eos_coef``), mean over B·Q."""
    background = 1 - foreground
    target = torch.full(logits.shape[:2], background, dtype=torch.long, device=logits.device)
    for b, (i, _) in enumerate(indices):
        target[b, i.to(logits.device)] = foreground
    weight = torch.ones(2, device=logits.device, dtype=logits.dtype)
    weight[background] = eos_coef
    return F.cross_entropy(logits.transpose(1, 2), target, weight, reduction="none").mean()


def saliency_pairs(saliency: torch.Tensor, relevant: torch.Tensor, mask: torch.Tensor,
                   annotated: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Moment-DETR's (positive, negative) clip pairs per query.

    saliency (B, N) summed annotator scores, relevant (B, N) bool, mask (B, N) real clips,
    annotated (B,) whether the query has saliency scores (None: all) -> pos (B, 2), neg (B, 2)
    clip indices and valid (B,) (queries with a pair). Annotated: pair 0 is the hard one
    (highest vs lowest score among the relevant clips, the first of equals), pair 1 the easy
    one (a random relevant clip vs a random non-relevant real clip; the hard pair again when
    every clip is relevant, as the official code does). Not annotated: two easy pairs (two
    distinct relevant clips when there are two), no pair when no clip is outside.
    """
    b = saliency.shape[0]
    pos = torch.zeros(b, 2, dtype=torch.long)
    neg = torch.zeros(b, 2, dtype=torch.long)
    valid = torch.zeros(b, dtype=torch.bool)
    sal, rel, real = saliency.detach().float().cpu(), relevant.cpu() & mask.cpu(), mask.cpu()
    ranked = annotated.cpu() if annotated is not None else torch.ones(b, dtype=torch.bool)
    for i in range(b):
        ids = rel[i].nonzero().flatten()
        if len(ids) == 0:
            continue
        if not ranked[i]:  # windows only: two easy pairs
            pool = (real[i] & ~rel[i]).nonzero().flatten()
            if len(pool) == 0:
                continue
            pos[i] = ids[torch.randperm(len(ids))[:2]] if len(ids) > 1 else ids[0]
            neg[i] = pool[torch.randint(len(pool), (2,))]
            valid[i] = True
            continue
        valid[i] = True
        scores = sal[i, ids]
        order = torch.sort(scores, stable=True).indices  # increasing, as the official argsort
        pos[i, 0], neg[i, 0] = ids[order[-1]], ids[order[0]]
        pool = (real[i] & ~rel[i]).nonzero().flatten()
        if len(pool) >= 1:
            pos[i, 1] = ids[torch.randint(len(ids), ())]
            neg[i, 1] = pool[torch.randint(len(pool), ())]
        else:
            pos[i, 1], neg[i, 1] = pos[i, 0], neg[i, 0]
    return pos, neg, valid


def saliency_margin_loss(scores: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, valid: torch.Tensor,
                         margin: float) -> torch.Tensor:
    """Hinge loss on the pairs: scores (B, N) predicted saliency, pos / neg (B, P) clip indices,
    valid (B,) -> sum of max(0, margin + s_neg - s_pos) / (B_valid · P) · 2."""
    valid = valid.to(scores.device)
    if not bool(valid.any()):
        return scores.sum() * 0
    s = scores[valid]
    p, n = pos.to(scores.device)[valid], neg.to(scores.device)[valid]
    s_pos, s_neg = s.gather(1, p), s.gather(1, n)
    return (margin + s_neg - s_pos).clamp(min=0).sum() / (len(s) * p.shape[1]) * 2


def rank_contrastive_loss(scores: torch.Tensor, saliency: torch.Tensor, mask: torch.Tensor,
                          tau: float = 0.5, ranks: int = 12) -> torch.Tensor:
    """QD-DETR's rank-contrastive loss (module docstring): scores (B, N) predicted saliency,
    saliency (B, N) summed annotator scores (QVHighlights: 0-12), mask (B, N) real clips."""
    m = mask.to(scores.dtype)
    label = saliency.to(scores)
    logits = (scores * m + (1 - m) * -1e3) / tau
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    log_prob = logits - torch.log(logits.exp().sum(1, keepdim=True) + 1e-6)
    total = scores.sum() * 0
    for r in range(1, ranks):
        positive = (label >= r).to(scores.dtype) * m
        if not bool(positive.any()):
            continue
        has = (positive.sum(1) > 0).to(scores.dtype)
        mean_pos = (positive * log_prob).sum(1) / (positive.sum(1) + 1e-6)
        total = total + (-mean_pos * has).mean()
    return total / ranks


class MomentCriterion:
    """Moment-DETR's ``SetCriterion`` (module docstring) with its official weights: span L1 10,
    gIoU 1, label 4, saliency 1 (margin 0.2), ``eos_coef`` 0.1; the matched losses repeat at
    every decoder layer (auxiliary losses, same weights); rank-contrastive weight (0 =
    Moment-DETR as published)."""

    def __init__(self, matcher: HungarianMatcher, span_weight: float = 10.0, giou_weight: float = 1.0,
                 label_weight: float = 4.0, saliency_weight: float = 1.0, saliency_margin: float = 0.2,
                 eos_coef: float = 0.1, rank_contrastive_weight: float = 0.0, aux_loss: bool = True) -> None:
        self.matcher = matcher
        self.weights = {"span": span_weight, "giou": giou_weight, "label": label_weight}
        self.saliency_weight, self.saliency_margin = saliency_weight, saliency_margin
        self.eos_coef, self.rank_contrastive_weight, self.aux_loss = eos_coef, rank_contrastive_weight, aux_loss

    def layer_losses(self, logits: torch.Tensor, spans: torch.Tensor,
                     targets: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Unweighted matched losses of one decoder layer: logits (B, Q, 2), spans (B, Q, 2) cxw."""
        indices = self.matcher(logits, spans, targets)
        l1, giou = span_losses(spans, targets, indices)
        return {"span": l1, "giou": giou, "label": label_loss(logits, indices, self.eos_coef,
                                                               self.matcher.foreground)}

    def __call__(self, logits: torch.Tensor, spans: torch.Tensor, saliency_scores: torch.Tensor,
                 targets_cxw: list[torch.Tensor], saliency: torch.Tensor, relevant: torch.Tensor,
                 mask: torch.Tensor, annotated: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Weighted losses by name. logits (K, B, Q, 2) and spans (K, B, Q, 2) of the K decoder
        layers (the last is the output), saliency_scores (B, N) predicted; targets_cxw per query
        (M_i, 2); saliency, relevant, mask (B, N) and annotated (B,) as
        :class:`~.heads.GroundingTargets`."""
        out: dict[str, torch.Tensor] = {}
        layers = range(logits.shape[0]) if self.aux_loss else [logits.shape[0] - 1]
        for k in layers:
            suffix = "" if k == logits.shape[0] - 1 else f"_{k}"
            for name, value in self.layer_losses(logits[k], spans[k], targets_cxw).items():
                out[f"loss_{name}{suffix}"] = self.weights[name] * value
        if self.saliency_weight:
            pos, neg, valid = saliency_pairs(saliency, relevant, mask, annotated)
            out["loss_saliency"] = self.saliency_weight * saliency_margin_loss(
                saliency_scores, pos, neg, valid, self.saliency_margin)
        if self.rank_contrastive_weight:
            out["loss_rank_contrastive"] = self.rank_contrastive_weight * rank_contrastive_loss(
                saliency_scores, saliency, mask)
        return out


__all__ = ["MomentCriterion", "label_loss", "rank_contrastive_loss", "saliency_margin_loss", "saliency_pairs",
           "span_losses"]
