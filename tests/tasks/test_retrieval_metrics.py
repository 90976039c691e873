"""Retrieval metrics: hand-computed matrices (ties, several captions per video), CLIP4Clip's
reference algorithms re-derived in numpy, and torchmetrics' per-query hit rate and reciprocal rank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.retrieval import retrieval_hit_rate, retrieval_reciprocal_rank

from vidlift.tasks.retrieval.metrics import (
    rank_metrics,
    retrieval_metrics,
    target_ranks,
    text_to_video_ranks,
    video_to_text_ranks,
)

# 4 texts x 4 videos, text i belongs to video i, no ties.
SIM = torch.tensor([
    [0.9, 0.1, 0.3, 0.2],  # text 0: video 0 first                 -> rank 1
    [0.8, 0.5, 0.2, 0.1],  # text 1: video 0 beats it              -> rank 2
    [0.7, 0.6, 0.1, 0.0],  # text 2: videos 0, 1 beat it           -> rank 3
    [0.2, 0.3, 0.4, 0.1],  # text 3: last                          -> rank 4
])
# Columns (videos): v0 [.9 .8 .7 .2] text 0 first -> 1; v1 [.1 .5 .6 .3] text 1 second -> 2;
# v2 [.3 .2 .1 .4] text 2 last -> 4; v3 [.2 .1 .0 .1] text 3 second, equal to text 1 -> see ties.


def test_hand_computed_square_matrix():
    tv = torch.arange(4)
    assert text_to_video_ranks(SIM, tv).tolist() == [1, 2, 3, 4]
    # v3's column: [.2, .1, .0, .1]: text 3 ties text 1 (lower index) -> argsort rank 3, optimistic 2.
    assert video_to_text_ranks(SIM, tv).tolist() == [1, 2, 4, 3]
    assert video_to_text_ranks(SIM, tv, ties="optimistic").tolist() == [1, 2, 4, 2]
    m = retrieval_metrics(SIM, tv)
    assert m["t2v_R@1"] == pytest.approx(25.0) and m["t2v_R@5"] == 100.0 and m["t2v_R@10"] == 100.0
    assert m["t2v_MdR"] == 2.5 and m["t2v_MnR"] == 2.5  # even count: mean of the two middle ranks
    assert m["v2t_R@1"] == pytest.approx(25.0) and m["v2t_MdR"] == 2.5 and m["v2t_MnR"] == 2.5
    assert set(m) == {f"{d}_{k}" for d in ("t2v", "v2t") for k in ("R@1", "R@5", "R@10", "MdR", "MnR")}


def test_ties_rules():
    scores = torch.tensor([[0.5, 0.5, 0.1], [0.5, 0.5, 0.1], [0.2, 0.2, 0.2]])
    assert target_ranks(scores, torch.tensor([0, 1, 2])).tolist() == [1, 2, 3]
    assert target_ranks(scores, torch.tensor([0, 1, 2]), ties="optimistic").tolist() == [1, 1, 1]
    with pytest.raises(ValueError):
        target_ranks(scores, torch.tensor([0, 1, 2]), ties="random")


def test_argsort_rank_is_the_stable_descending_argsort_position():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (50, 9), generator=g).float()  # many ties
    target = torch.randint(0, 9, (50,), generator=g)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    expected = (order == target[:, None]).float().argmax(1) + 1
    assert torch.equal(target_ranks(scores, target), expected)


def test_several_captions_per_video():
    # 5 captions: 0-2 describe video 0, 3-4 video 1; 3 videos (video 2 has no caption).
    sim = torch.tensor([
        [0.1, 0.9, 0.0],  # caption 0 (video 0): rank 2
        [0.8, 0.2, 0.3],  # caption 1 (video 0): rank 1
        [0.3, 0.4, 0.5],  # caption 2 (video 0): rank 3
        [0.6, 0.7, 0.1],  # caption 3 (video 1): rank 1
        [0.9, 0.1, 0.2],  # caption 4 (video 1): rank 3
    ])
    tv = torch.tensor([0, 0, 0, 1, 1])
    assert text_to_video_ranks(sim, tv).tolist() == [2, 1, 3, 1, 3]
    # Video 0's column [.1 .8 .3 .6 .9]: its captions 0,1,2 rank 5,2,4 -> best 2.
    # Video 1's column [.9 .2 .4 .7 .1]: its captions 3,4 rank 2,5 -> best 2. Video 2 is left out.
    assert video_to_text_ranks(sim, tv).tolist() == [2, 2]
    # Grouped (CLIP4Clip): video 0 scores groups {0: max(.1,.8,.3)=.8, 1: max(.6,.9)=.9} -> 2;
    # video 1: {0: max(.9,.2,.4)=.9, 1: max(.7,.1)=.7} -> 2.
    assert video_to_text_ranks(sim, tv, mode="grouped").tolist() == [2, 2]
    sim2 = sim.clone()
    sim2[1, 0] = 0.95  # caption 1 now beats every caption for video 0, and group 0 beats group 1
    assert video_to_text_ranks(sim2, tv).tolist() == [1, 2]
    assert video_to_text_ranks(sim2, tv, mode="grouped").tolist() == [1, 2]
    m = retrieval_metrics(sim, tv)
    assert m["t2v_R@1"] == pytest.approx(40.0) and m["t2v_MdR"] == 2.0 and m["t2v_MnR"] == pytest.approx(2.0)
    assert m["v2t_R@1"] == 0.0 and m["v2t_R@5"] == 100.0 and m["v2t_MdR"] == 2.0


def _clip4clip_compute_metrics(x: np.ndarray) -> dict[str, float]:
    """CLIP4Clip's ``compute_metrics`` (rows: queries, diagonal: ground truth), re-derived."""
    sx = np.sort(-x, axis=1)
    d = np.diag(-x)[:, None]
    ind = np.where(sx - d == 0)[1]
    return {"R@1": 100 * np.mean(ind == 0), "R@5": 100 * np.mean(ind < 5), "R@10": 100 * np.mean(ind < 10),
            "MdR": np.median(ind) + 1, "MnR": np.mean(ind) + 1}


def test_matches_clip4clip_reference_one_caption_per_video():
    g = torch.Generator().manual_seed(3)
    sim = torch.randn(40, 40, generator=g)
    m = retrieval_metrics(sim, torch.arange(40))
    for direction, x in (("t2v", sim.numpy()), ("v2t", sim.t().numpy())):
        for k, v in _clip4clip_compute_metrics(x).items():
            assert m[f"{direction}_{k}"] == pytest.approx(v), (direction, k)


def test_matches_clip4clip_reference_multi_sentence():
    """CLIP4Clip's multi-sentence evaluation: pad each video's rows to (N, max_caps, N) with -inf;
    t2v ranks every real caption; v2t maxes over a video's captions (``tensor_video_to_text_sim``)."""
    g = torch.Generator().manual_seed(4)
    counts = [3, 1, 4, 2, 2, 3]
    n = len(counts)
    tv = torch.repeat_interleave(torch.arange(n), torch.tensor(counts))
    sim = torch.randn(len(tv), n, generator=g)
    padded = torch.full((n, max(counts), n), float("-inf"))
    for v in range(n):
        padded[v, : counts[v]] = sim[tv == v]
    t2v = []
    for v in range(n):
        for row in padded[v, : counts[v]]:
            t2v.append(int((row > row[v]).sum()) + 1)
    v2t_sim = padded.max(dim=1).values.t()  # (videos, caption groups)
    m = retrieval_metrics(sim, tv, v2t="grouped")
    ref_t2v = rank_metrics(torch.tensor(t2v))
    ref_v2t = _clip4clip_compute_metrics(v2t_sim.numpy())
    for k in ("R@1", "R@5", "R@10", "MdR", "MnR"):
        assert m[f"t2v_{k}"] == pytest.approx(ref_t2v[k])
        assert m[f"v2t_{k}"] == pytest.approx(ref_v2t[k])


@pytest.mark.parametrize("k", [1, 2, 5])
def test_recall_matches_torchmetrics_hit_rate(k):
    g = torch.Generator().manual_seed(k)
    n = 7
    tv = torch.cat([torch.arange(n), torch.randint(0, n, (13,), generator=g)])
    sim = torch.rand(len(tv), n, generator=g)  # continuous: no ties
    m = retrieval_metrics(sim, tv, ks=(k,))
    t2v = [float(retrieval_hit_rate(sim[q], torch.arange(n) == tv[q], top_k=k)) for q in range(len(tv))]
    v2t = [float(retrieval_hit_rate(sim[:, v], tv == v, top_k=k)) for v in range(n)]
    assert m[f"t2v_R@{k}"] == pytest.approx(100 * np.mean(t2v))
    assert m[f"v2t_R@{k}"] == pytest.approx(100 * np.mean(v2t))
    # The best-ranked relevant item's rank is 1 / reciprocal rank.
    rr = [1 / float(retrieval_reciprocal_rank(sim[:, v], tv == v)) for v in range(n)]
    assert video_to_text_ranks(sim, tv).tolist() == [round(r) for r in rr]
    rr = [1 / float(retrieval_reciprocal_rank(sim[q], torch.arange(n) == tv[q])) for q in range(len(tv))]
    assert text_to_video_ranks(sim, tv).tolist() == [round(r) for r in rr]


def test_rank_metrics_edge_cases():
    m = rank_metrics(torch.tensor([1, 1, 7]))
    assert m == {"R@1": pytest.approx(200 / 3), "R@5": pytest.approx(200 / 3), "R@10": 100.0, "MdR": 1.0,
                 "MnR": 3.0}
    assert all(math.isnan(v) for v in rank_metrics(torch.zeros(0, dtype=torch.long)).values())
    with pytest.raises(ValueError):
        retrieval_metrics(torch.zeros(3, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError):
        target_ranks(torch.zeros(2, 2), torch.tensor([0, 2]))
    with pytest.raises(ValueError):
        video_to_text_ranks(torch.zeros(2, 2), torch.tensor([0, 1]), mode="mean")
