"""Moment-DETR's parts against worked-out values: span conversions, (g)IoU, the Hungarian
matcher on a hand-built cost, each loss, saliency pairs, and the head overfitting a batch."""

from __future__ import annotations

import math

import pytest
import torch

from vidlift.tasks.grounding.heads import GroundingInputs, GroundingTargets, TextQuery, head_class
from vidlift.tasks.grounding.losses import (
    label_loss,
    rank_contrastive_loss,
    saliency_margin_loss,
    saliency_pairs,
    span_losses,
)
from vidlift.tasks.grounding.matcher import (
    HungarianMatcher,
    generalized_temporal_iou,
    span_cxw_to_xx,
    span_xx_to_cxw,
    temporal_iou,
)
from vidlift.tasks.grounding.moment_detr import MomentDETR, sine_positions, temporal_endpoints


def test_span_conversions_round_trip():
    xx = torch.tensor([[0.0, 1.0], [0.2, 0.4]])
    cxw = span_xx_to_cxw(xx)
    assert torch.allclose(cxw, torch.tensor([[0.5, 1.0], [0.3, 0.2]]))
    assert torch.allclose(span_cxw_to_xx(cxw), xx)


def test_iou_and_giou_of_known_windows():
    a = torch.tensor([[0.0, 0.2], [0.5, 1.0]])
    b = torch.tensor([[0.0, 0.3], [0.0, 1.0]])
    iou, union = temporal_iou(a, b)
    assert torch.allclose(iou, torch.tensor([[0.2 / 0.3, 0.2], [0.0, 0.5]]))
    assert torch.allclose(union, torch.tensor([[0.3, 1.0], [0.8, 1.0]]))
    # [0.5, 1] vs [0, 0.3]: no overlap, union 0.8, enclosing 1.0 -> 0 - 0.2 / 1.0
    assert torch.allclose(generalized_temporal_iou(a, b), torch.tensor([[0.2 / 0.3, 0.2], [-0.2, 0.5]]))
    with pytest.raises(ValueError, match="ends before it starts"):
        generalized_temporal_iou(torch.tensor([[0.5, 0.1]]), b)


def test_matcher_finds_the_known_assignment():
    spans = torch.tensor([[[0.2, 0.2], [0.8, 0.2], [0.5, 0.9]]])  # (1, 3, 2) cxw
    logits = torch.zeros(1, 3, 2)  # equal class cost: the spans decide
    target = torch.tensor([[0.8, 0.2], [0.2, 0.2]])
    (rows, cols), (er, ec) = HungarianMatcher()(logits.expand(2, -1, -1), spans.expand(2, -1, -1),
                                                [target, torch.zeros(0, 2)])
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    assert len(er) == 0 and len(ec) == 0
    # the class cost alone decides between two equal spans: the more confident query wins
    logits = torch.tensor([[[0.0, 0.0], [3.0, 0.0]]])  # query 1 has the higher foreground (index 0) probability
    same = torch.tensor([[[0.5, 0.4], [0.5, 0.4]]])
    (rows, cols), = HungarianMatcher()(logits, same, [torch.tensor([[0.5, 0.4]])])
    assert rows.tolist() == [1] and cols.tolist() == [0]


def test_span_and_label_losses_worked_values():
    spans = torch.tensor([[[0.3, 0.2], [0.9, 0.1]]])
    target = [torch.tensor([[0.3, 0.2]])]
    l1, giou = span_losses(spans, target, [(torch.tensor([0]), torch.tensor([0]))])
    assert float(l1) == pytest.approx(0.0) and float(giou) == pytest.approx(0.0, abs=1e-6)
    l1, giou = span_losses(spans, target, [(torch.tensor([1]), torch.tensor([0]))])
    # (0.9, 0.1) vs (0.3, 0.2): L1 mean (0.6 + 0.1) / 2; xx [0.85, 0.95] vs [0.2, 0.4]: IoU 0,
    # union 0.3, enclosing 0.75 -> gIoU -0.6, loss 1.6
    assert float(l1) == pytest.approx(0.35) and float(giou) == pytest.approx(1.6)
    logits = torch.zeros(1, 2, 2)
    loss = label_loss(logits, [(torch.tensor([0]), torch.tensor([0]))], eos_coef=0.1)
    assert float(loss) == pytest.approx((math.log(2) * 1.0 + math.log(2) * 0.1) / 2)


def test_saliency_pairs_and_margin_loss():
    torch.manual_seed(0)
    sal = torch.tensor([[0.0, 12.0, 9.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    rel = torch.tensor([[False, True, True, False], [False, False, False, False]])
    mask = torch.ones(2, 4, dtype=torch.bool)
    pos, neg, valid = saliency_pairs(sal, rel, mask)
    assert valid.tolist() == [True, False]
    assert pos[0, 0] == 1 and neg[0, 0] == 2  # hard: highest vs lowest score among the relevant
    assert int(pos[0, 1]) in (1, 2) and int(neg[0, 1]) in (0, 3)  # easy: relevant vs outside
    scores = torch.tensor([[0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 5.0, 5.0]])
    # every pair ties: hinge 0.2 per pair, (0.2 + 0.2) / (1 query * 2 pairs) * 2
    assert float(saliency_margin_loss(scores, pos, neg, valid, 0.2)) == pytest.approx(0.4)
    scores = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    pos, neg = torch.tensor([[1, 1], [0, 0]]), torch.tensor([[0, 3], [0, 0]])
    assert float(saliency_margin_loss(scores, pos, neg, valid, 0.2)) == pytest.approx(0.0)


def test_rank_contrastive_prefers_ranked_scores():
    label = torch.tensor([[12.0, 6.0, 0.0, 0.0]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    good = rank_contrastive_loss(torch.tensor([[4.0, 2.0, -2.0, -2.0]]), label, mask)
    bad = rank_contrastive_loss(torch.tensor([[-2.0, -2.0, 2.0, 4.0]]), label, mask)
    assert float(good) < float(bad)
    # one relevant clip scored 12, all scores equal: each of ranks 1..11 gives -log(1/4); / 12
    flat = rank_contrastive_loss(torch.zeros(1, 4), torch.tensor([[12.0, 0, 0, 0]]), mask)
    assert float(flat) == pytest.approx(11 * math.log(4) / 12, rel=1e-4)
    # padding takes no share of the softmax
    padded = rank_contrastive_loss(torch.zeros(1, 6), torch.tensor([[12.0, 0, 0, 0, 0, 0]]),
                                   torch.tensor([[True, True, True, True, False, False]]))
    assert float(padded) == pytest.approx(float(flat), rel=1e-4)


def test_positions_and_endpoints():
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    tef = temporal_endpoints(mask)
    assert torch.allclose(tef[0], torch.tensor([[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1.0]]))
    assert torch.allclose(tef[1], torch.tensor([[0, 0.5], [0.5, 1.0], [0, 0], [0, 0]]))
    pos = sine_positions(mask, 8)
    assert pos.shape == (2, 4, 8)
    # the last real clip sits at 2π whatever the length (normalised positions): sin 0, cos 1 on dim 0/1
    assert torch.allclose(pos[0, 3, :2], torch.tensor([0.0, 1.0]), atol=1e-4)
    assert torch.allclose(pos[1, 1, :2], torch.tensor([0.0, 1.0]), atol=1e-4)


def _batch(b=2, n=6, length=5, c=24, d=16):
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[1, 4:] = False
    text = TextQuery(torch.randn(b, length, d, generator=g), torch.ones(b, length, dtype=torch.bool), torch.randn(b, 8))
    inputs = GroundingInputs(torch.randn(b, n, c, generator=g), mask, torch.randn(b, n, 8), text)
    rel = torch.zeros(b, n, dtype=torch.bool)
    rel[0, 1:3] = True
    rel[1, 2:4] = True
    windows = [torch.tensor([[1 / 6, 3 / 6]]), torch.tensor([[0.5, 1.0]])]
    targets = GroundingTargets(windows, rel.float() * 12, mask, rel)
    return inputs, targets


def test_head_registry_shapes_and_official_defaults():
    assert head_class("moment_detr") is MomentDETR
    head = MomentDETR(24, 16, 8)
    assert head.hidden_dim == 256 and head.query_embed.weight.shape == (10, 256)
    assert len(head.transformer.encoder) == 2 and len(head.transformer.decoder) == 2
    assert head.transformer.encoder[0].attn.num_heads == 8 and head.transformer.encoder[0].ff[0].out_features == 1024
    assert head.input_vid_proj[0].linear.in_features == 24 + 2  # TEF
    assert head.input_vid_proj[0].relu and not head.input_vid_proj[1].relu  # n_input_proj 2
    inputs, targets = _batch()
    out = head(inputs)
    assert out.windows.shape == (2, 10, 2) and out.scores.shape == (2, 10) and out.saliency.shape == (2, 6)
    assert bool((out.windows[..., 1] >= out.windows[..., 0]).all()) and 0 <= float(out.windows.min().detach())
    assert float(out.windows.max().detach()) <= 1
    losses = head.loss(out, targets)
    assert set(losses) == {"loss_span", "loss_giou", "loss_label", "loss_span_0", "loss_giou_0", "loss_label_0",
                           "loss_saliency"}


def test_padding_does_not_change_a_video_output():
    torch.manual_seed(0)
    head = MomentDETR(24, 16, 8, hidden_dim=32, heads=4, dim_feedforward=64).eval()
    inputs, _ = _batch()
    short = GroundingInputs(inputs.clips[1:, :4], inputs.clip_mask[1:, :4], inputs.clip_embedding[1:, :4],
                            TextQuery(inputs.text.tokens[1:], inputs.text.mask[1:], inputs.text.embedding[1:]))
    a, b = head(inputs), head(short)
    assert torch.allclose(a.windows[1], b.windows[0], atol=1e-5)
    assert torch.allclose(a.saliency[1, :4], b.saliency[0], atol=1e-5)


def test_losses_decrease_when_overfitting_a_batch():
    torch.manual_seed(0)
    head = MomentDETR(24, 16, 8, hidden_dim=32, heads=4, dim_feedforward=64, dropout=0.0, input_dropout=0.0,
                      rank_contrastive_weight=1.0)
    inputs, targets = _batch()
    opt = torch.optim.AdamW(head.parameters(), lr=3e-3)
    first = None
    for _ in range(25):
        losses = head.loss(head(inputs), targets)
        total = sum(losses.values())
        first = first if first is not None else {k: float(v) for k, v in losses.items()}
        opt.zero_grad()
        total.backward()
        opt.step()
    last = {k: float(v) for k, v in head.loss(head(inputs), targets).items()}
    assert sum(last.values()) < 0.5 * sum(first.values())
    for k in ("loss_span", "loss_giou", "loss_label", "loss_saliency", "loss_rank_contrastive"):
        assert last[k] < first[k], k


def test_saliency_pairs_without_saliency_annotation_are_two_easy_pairs():
    # Charades-STA / TACoS / ActivityNet have windows but no saliency: every relevant clip has
    # the same target, so there is no hard pair; as Moment-DETR's get_saliency_labels_sub_as_query
    # both pairs are (relevant, outside). A video whose every clip is relevant has no pair.
    sal = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    rel = sal > 0
    mask = torch.ones(2, 6, dtype=torch.bool)
    for seed in range(20):
        torch.manual_seed(seed)
        pos, neg, valid = saliency_pairs(sal, rel, mask, annotated=torch.tensor([False, False]))
        assert valid.tolist() == [True, False]
        assert set(pos[0].tolist()) <= {1, 2, 3} and set(neg[0].tolist()) <= {0, 4, 5}
        assert pos[0, 0] != pos[0, 1]  # two distinct relevant clips, as random.sample(k=2)
    # annotated rows keep the official hard pair, ties included
    torch.manual_seed(0)
    pos, neg, valid = saliency_pairs(sal, rel, mask, annotated=torch.tensor([True, True]))
    assert valid.tolist() == [True, True] and pos[0, 0] == 3 and neg[0, 0] == 1
