"""Text-video retrieval metrics: R@K, median rank (MdR) and mean rank (MnR).

Inputs are a similarity matrix ``sim`` (M texts, N videos) and ``text_video`` (M,), the index
(column of ``sim``) of each text's ground-truth video. Definitions follow CLIP4Clip (Luo et al.,
"CLIP4Clip: An Empirical Study of CLIP for End to End Video Clip Retrieval", Neurocomputing
2022; github.com/ArrowLuo/CLIP4Clip, ``metrics.py``):

- **rank**: 1-based position of the ground truth among all candidates, best score first;
- **R@K**: share of queries whose rank is at most K, in **percent (0-100)**, as papers report;
- **MdR**: median rank; with an even number of queries the mean of the two middle ranks
  (``numpy.median``, which CLIP4Clip's ``compute_metrics`` uses);
- **MnR**: mean rank.

Text to video: every text is a query; its one ground-truth video is ranked among all N videos.

Video to text (``v2t``), which matters when a video has several captions (MSVD, full MSR-VTT):

- ``"best_caption"`` (default): a video's rank is that of its best-ranked ground-truth caption
  among all M captions (Liu et al., "Use What You Have: Video Retrieval Using Representations
  From Collaborative Experts", BMVC 2019, ``v2t_metrics``; the usual reading of "R@K" when any
  correct caption counts). It equals ``torchmetrics``' per-query hit rate.
- ``"grouped"``: CLIP4Clip's multi-sentence protocol (``tensor_video_to_text_sim``, also used by
  X-Pool): a video's captions are merged into one candidate scored by their maximum similarity,
  so each video is ranked among N caption groups instead of M captions.

With one caption per video (MSR-VTT 1k-A, DiDeMo and ActivityNet paragraphs) both give
CLIP4Clip's numbers. Videos without any caption have no v2t rank and are left out of v2t.

Ties (``ties``): ``"argsort"`` (default) is the rank that CLIP4Clip's double ``argsort`` gives,
made deterministic: the position of the ground truth in a *stable* descending sort of the row,
i.e. 1 + (#candidates scored higher) + (#equal candidates with a lower index). (CLIP4Clip's
``torch.argsort`` is not stable, so its tie order is unspecified.) ``"optimistic"``: 1 + the
number of candidates scored strictly higher (Collaborative Experts' ``break_ties=
"optimistically"``). Without ties both agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

TIES = ("argsort", "optimistic")
V2T_MODES = ("best_caption", "grouped")
_CHUNK = 1024  # query rows compared at a time: bounds the (rows, candidates) temporaries


def target_ranks(scores: torch.Tensor, target: torch.Tensor, ties: str = "argsort") -> torch.Tensor:
    """1-based rank of candidate ``target[i]`` in row i of ``scores`` (R, C), higher is better.

    Returns a LongTensor (R,). See the module docstring for ``ties``.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if scores.ndim != 2 or target.shape != (scores.shape[0],):
        raise ValueError(f"expected scores (R, C) and target (R,), got {tuple(scores.shape)} and {tuple(target.shape)}")
    target = target.to(scores.device).long()
    if len(target) and (int(target.min()) < 0 or int(target.max()) >= scores.shape[1]):
        raise ValueError(f"target indices must lie in [0, {scores.shape[1]})")
    out = []
    cols = torch.arange(scores.shape[1], device=scores.device)
    for s in range(0, scores.shape[0], _CHUNK):
        rows, t = scores[s : s + _CHUNK], target[s : s + _CHUNK]
        gt = rows.gather(1, t[:, None])
        rank = (rows > gt).sum(1)
        if ties == "argsort":
            rank += ((rows == gt) & (cols[None, :] < t[:, None])).sum(1)
        out.append(rank + 1)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def _check(sim: torch.Tensor, text_video: torch.Tensor) -> torch.Tensor:
    if sim.ndim != 2 or text_video.shape != (sim.shape[0],):
        raise ValueError(f"expected sim (M texts, N videos) and text_video (M,), got {tuple(sim.shape)} "
                         f"and {tuple(text_video.shape)}")
    return text_video.to(sim.device).long()


def text_to_video_ranks(sim: torch.Tensor, text_video: torch.Tensor, ties: str = "argsort") -> torch.Tensor:
    """sim (M, N), text_video (M,) -> rank (M,) of each text's video among the N videos."""
    return target_ranks(sim, _check(sim, text_video), ties)


def video_to_text_ranks(sim: torch.Tensor, text_video: torch.Tensor, ties: str = "argsort",
                        mode: str = "best_caption") -> torch.Tensor:
    """sim (M, N), text_video (M,) -> rank (N',) per video that has at least one caption, in
    video order: its best ground-truth caption among all M captions (``"best_caption"``), or
    its caption group among the N groups (``"grouped"``, CLIP4Clip's multi-sentence v2t)."""
    text_video = _check(sim, text_video)
    if mode not in V2T_MODES:
        raise ValueError(f"v2t mode must be one of {V2T_MODES}, got {mode!r}")
    m, n = sim.shape
    has = torch.zeros(n, dtype=torch.bool, device=sim.device)
    has[text_video] = True
    if mode == "grouped":
        # groups[v, g] = max over captions c of video g of sim[c, v]; -inf for caption-less g.
        groups = torch.full((n, n), float("-inf"), dtype=sim.dtype, device=sim.device)
        groups.scatter_reduce_(1, text_video[None, :].expand(n, m), sim.t(), reduce="amax")
        videos = torch.arange(n, device=sim.device)[has]
        return target_ranks(groups[has], videos, ties)
    # The best-ranked ground-truth caption is the highest-scoring one (the first of equals):
    # rank grows with falling score, and among equal scores with the index, under both tie rules.
    scores = sim.t()[has]  # (N', M)
    own = text_video[None, :] == torch.arange(n, device=sim.device)[has][:, None]
    best = scores.masked_fill(~own, float("-inf")).argmax(1)
    return target_ranks(scores, best, ties)


def rank_metrics(ranks: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """1-based ranks (Q,) -> {"R@K": percent, "MdR", "MnR"}; NaN for Q = 0."""
    r = ranks.double()
    if r.numel() == 0:
        return {**{f"R@{k}": float("nan") for k in ks}, "MdR": float("nan"), "MnR": float("nan")}
    out = {f"R@{k}": float((r <= k).double().mean() * 100) for k in ks}
    out["MdR"] = float(r.quantile(0.5))  # linear interpolation = numpy.median
    out["MnR"] = float(r.mean())
    return out


def retrieval_metrics(sim: torch.Tensor, text_video: torch.Tensor, ks: Sequence[int] = (1, 5, 10),
                      ties: str = "argsort", v2t: str = "best_caption") -> dict[str, float]:
    """sim (M texts, N videos), text_video (M,) -> {"t2v_R@1", ..., "t2v_MdR", "t2v_MnR",
    "v2t_R@1", ..., "v2t_MnR"} (R@K in percent)."""
    sim = sim.float()
    t2v = rank_metrics(text_to_video_ranks(sim, text_video, ties), ks)
    v2t = rank_metrics(video_to_text_ranks(sim, text_video, ties, v2t), ks)
    return {**{f"t2v_{k}": v for k, v in t2v.items()}, **{f"v2t_{k}": v for k, v in v2t.items()}}


__all__ = ["TIES", "V2T_MODES", "target_ranks", "text_to_video_ranks", "video_to_text_ranks", "rank_metrics",
           "retrieval_metrics"]
