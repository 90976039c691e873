"""Moment retrieval and highlight detection metrics with the official QVHighlights semantics.

Reference: Lei, Berg & Bansal, "QVHighlights: Detecting Moments and Highlights in Videos via
Natural Language Queries" (Moment-DETR), NeurIPS 2021; the official evaluator is
``standalone_eval/eval.py`` and ``standalone_eval/utils.py`` of github.com/jayleicn/moment_detr
(reused unchanged by github.com/line/lighthouse). This module is an independent implementation
that reproduces that evaluator's numbers (checked against it on random submissions, see the
report of issue 10), with these semantics, read from the code:

Moment retrieval (``MR-{bucket}-...``)
    * **R1@t**: the *first window as submitted* (``pred_relevant_windows[0]``; the official code
      does not sort before taking it, so an unsorted list is scored by its first entry) against
      the ground-truth window with the highest IoU with it (the first such window on ties); a hit
      when IoU >= t. Official thresholds 0.5:0.05:0.95; vidlift adds 0.3 (the Charades-STA
      convention the issue asks for).
    * **mAP@t**: per query, the *first* ``max_windows`` (10) windows as listed are kept, *then*
      sorted by score, descending and stable for ties (so a correct 11th window never counts,
      whatever its score). Greedy matching in that order: each window takes the unmatched
      ground-truth window of highest IoU (on equal IoU the one listed *last*: the official
      ``argsort()[::-1]`` reverses a sort that is stable for up to 16 windows on NumPy < 1.26;
      NumPy's AVX-512 sort, 1.26+, orders ties otherwise, so the official numbers then depend on
      the machine in the rare query where the choice matters), a true positive if that IoU >= t.
      Precision/recall against the number of ground-truth windows of the query; VOC-interpolated
      AP (precision made monotone, summed over recall steps). Per threshold the mean over
      queries; thresholds 0.5:0.05:0.95, and ``mAP`` is the mean over them.
    * **mIoU** (not in the official evaluator; lighthouse has none either): the mean IoU of the
      pair R1 scores, i.e. first window vs best-IoU ground-truth window.
    * Buckets by ground-truth *window length* L: short 0 < L <= 10 s, middle 10 < L <= 30,
      long 30 < L <= 150, full = every query unfiltered. A query is in a bucket when one of its
      windows is, and is scored there against only those windows; the prediction is unchanged.
      A window longer than 150 s is in no bucket but full (as officially).

Highlight detection (``HL-min-{Fair,Good,VeryGood}-{mAP,Hit1}``)
    * The ground truth of a video is a (num_clips, annotators) score matrix, zero outside
      ``relevant_clip_ids``, with ``num_clips = int(duration / clip_length)`` (2 s clips). A clip
      is positive for an annotator when their score >= 2 (Fair), 3 (Good) or 4 (VeryGood).
    * **Hit1**: the clip of highest predicted saliency (the first on ties) is a hit when *any*
      annotator marks it positive; a predicted index past the video's clips is a miss.
    * **mAP**: per query and per annotator, the average precision of the predicted saliency
      (cut or zero-padded to ``num_clips``) against that annotator's positives, computed like the
      official ``get_ap`` (sklearn's precision-recall curve, interpolated, averaged over each
      distinct recall level, so tied scores count once); 0 when the annotator marks no positive
      and 1 when every clip is positive. Averaged over annotators, then queries.

Where the official evaluator crashes or is silent, vidlift defines the answer:
    * a query with no predicted window (official: IndexError in R1; its AP would be *left out*
      of the mean): R1 = IoU = 0 and AP = 0 at every threshold, counted in every mean;
    * a query absent from the submission (official: refuses): scored as a query with no window
      and no saliency (``num_missing`` says how many);
    * an empty bucket (official: TypeError): the bucket's metrics are NaN, ``num_queries`` 0;
    * an empty ``pred_saliency_scores`` (official: ValueError in argmax): Hit1 = AP = 0;
    * a video shorter than one clip (official: assertion): HL AP 0, Hit1 0;
    * a query whose ``relevant_clip_ids`` is empty (official: IndexError, float index array):
      no positive clip, so AP 0 and Hit1 0;
    * a relevant clip id past ``int(duration / clip_length)`` (official: IndexError): the score
      matrix is extended to hold it;
    * queries with different numbers of annotators (official: assumes 3): per-query mean over
      that query's annotators, identical to the official mean when all have 3.

Numbers are in percent like the official ones, but kept at full precision (the official code
rounds each to 2 decimals).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Windows per query the official evaluator scores (``compute_mr_ap(max_pred_windows=10)``).
OFFICIAL_MAX_WINDOWS = 10
# The official list is np.linspace(0.5, 0.95, 10) formatted with 2 decimals: the same doubles.
IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
R1_THRESHOLDS = (0.3, *IOU_THRESHOLDS)
# (min, max] of the ground-truth window length in seconds; None: every query.
LENGTH_BUCKETS = {"full": None, "short": (0.0, 10.0), "middle": (10.0, 30.0), "long": (30.0, 150.0)}
# Minimum 0-4 annotator score for a positive clip.
SALIENCY_LEVELS = {"Fair": 2, "Good": 3, "VeryGood": 4}


def temporal_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two [start, end] windows: intersection over (len a + len b - intersection), the
    official ``compute_temporal_iou_batch_cross``; 0 when both are empty."""
    inter = max(min(a[1], b[1]) - max(a[0], b[0]), 0.0)
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def _hull_iou(a: Sequence[float], b: Sequence[float]) -> float:
    # The official R1 divides by the hull (max end - min start), equal to the union for any
    # overlapping pair; kept so a threshold comparison agrees to the last bit.
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return inter / hull if hull != 0 else 0.0


def voc_average_precision(precision: Sequence[float], recall: Sequence[float]) -> float:
    """VOC (2011+) interpolated AP of a precision/recall curve listed by rising recall."""
    p = [0.0, *precision, 0.0]
    r = [0.0, *recall, 1.0]
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    return sum((r[i] - r[i - 1]) * p[i] for i in range(1, len(r)) if r[i] != r[i - 1])


def detection_ap(pred: Sequence[Sequence[float]], gt: Sequence[Sequence[float]],
                 thresholds: Sequence[float] = IOU_THRESHOLDS) -> list[float]:
    """AP of one query's ranked windows at each IoU threshold (fractions, not percent).

    ``pred``: [[start, end, score], ...] already cut to the windows that count; sorted here by
    score, stable for ties. ``gt``: [[start, end], ...], at least one."""
    if not gt:
        raise ValueError("a query needs at least one ground-truth window for moment retrieval AP")
    if not pred:
        return [0.0] * len(thresholds)
    ranked = sorted(pred, key=lambda w: -w[2])
    out = []
    for t in thresholds:
        taken = [False] * len(gt)
        tp = fp = 0
        precision, recall = [], []
        for w in ranked:
            ious = [temporal_iou(w, g) for g in gt]
            hit = False
            # Highest IoU first; equal IoUs: the later ground-truth window first.
            for j in sorted(range(len(gt)), key=lambda k: ious[k])[::-1]:
                if ious[j] < t:
                    break
                if not taken[j]:
                    taken[j] = hit = True
                    break
            tp, fp = tp + hit, fp + (not hit)
            precision.append(tp / (tp + fp))
            recall.append(tp / len(gt))
        out.append(voc_average_precision(precision, recall))
    return out


def saliency_ap(positive: Sequence[bool], scores: Sequence[float]) -> float:
    """Average precision of clip ``scores`` against binary ``positive`` labels, the official
    ``get_ap(interpolate=True)``: precision at each distinct score threshold, made monotone,
    averaged over the points where recall first reaches each new level."""
    n_pos = sum(bool(x) for x in positive)
    if n_pos == 0:
        return 0.0
    if n_pos == len(positive):
        return 1.0
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    precision, recall = [], []
    tp = fp = 0
    for rank, i in enumerate(order):
        tp, fp = tp + bool(positive[i]), fp + (not positive[i])
        if rank + 1 < len(order) and scores[order[rank + 1]] == scores[i]:
            continue  # tied scores form one threshold
        precision.append(tp / (tp + fp))
        recall.append(tp / n_pos)
    for k in range(len(precision) - 2, -1, -1):  # interpolate: best precision at this recall or more
        precision[k] = max(precision[k], precision[k + 1])
    levels = [k for k in range(len(recall)) if recall[k] != (recall[k - 1] if k else 0.0)]
    return sum(precision[k] for k in levels) / len(levels)


def _gt_saliency(gt: dict, clip_length: float) -> list[list[int]]:
    """(num_clips, annotators) 0-4 scores of a whole video, zero outside the relevant clips."""
    ids, scores = gt.get("relevant_clip_ids") or [], gt.get("saliency_scores") or []
    annotators = len(scores[0]) if scores else 1
    num_clips = int(gt["duration"] / clip_length)
    num_clips = max(num_clips, max(ids) + 1) if ids else num_clips
    matrix = [[0] * annotators for _ in range(num_clips)]
    for i, s in zip(ids, scores):
        matrix[i] = list(s)
    return matrix


def highlight_scores(pred_saliency: Sequence[float], gt: dict, min_score: int,
                     clip_length: float = 2.0) -> tuple[float, float]:
    """(AP averaged over annotators, Hit@1) of one query, fractions."""
    matrix = _gt_saliency(gt, clip_length)
    if not pred_saliency or not matrix:
        return 0.0, 0.0
    top = max(range(len(pred_saliency)), key=lambda i: (pred_saliency[i], -i))
    hit = float(top < len(matrix) and any(s >= min_score for s in matrix[top]))
    scores = list(pred_saliency[:len(matrix)]) + [0.0] * max(len(matrix) - len(pred_saliency), 0)
    annotators = len(matrix[0])
    aps = [saliency_ap([row[a] >= min_score for row in matrix], scores) for a in range(annotators)]
    return sum(aps) / annotators, hit


def _in_bucket(gt_windows: list, bounds: tuple[float, float] | None) -> list:
    if bounds is None:
        return gt_windows
    lo, hi = bounds
    return [w for w in gt_windows if lo < w[1] - w[0] <= hi]


def _index(lines: Sequence[dict], what: str) -> dict[Any, dict]:
    out: dict[Any, dict] = {}
    for i, d in enumerate(lines):
        if not isinstance(d, dict) or "qid" not in d:
            raise ValueError(f"{what} entry {i}: expected an object with a 'qid', got {d!r:.80}")
        if d["qid"] in out:
            raise ValueError(f"{what}: qid {d['qid']!r} appears twice")
        out[d["qid"]] = d
    return out


def _windows(d: dict) -> list[list[float]]:
    ws = d.get("pred_relevant_windows") or []
    for w in ws:
        if not (isinstance(w, (list, tuple)) and len(w) >= 3 and all(isinstance(x, (int, float)) for x in w[:3])):
            raise ValueError(f"qid {d['qid']!r}: a predicted window should be [start, end, score], got {w!r}")
        if w[1] < w[0]:
            raise ValueError(f"qid {d['qid']!r}: predicted window [{w[0]:g}, {w[1]:g}] ends before it starts")
    return [[float(x) for x in w[:3]] for w in ws]


def qvhighlights_metrics(submission: list[dict], ground_truth: list[dict], *,
                         max_windows: int = OFFICIAL_MAX_WINDOWS,
                         clip_length: float = 2.0) -> dict[str, float]:
    """Score a QVHighlights-format submission (see the module docstring for the exact semantics).

    Args:
        submission: one dict per query, ``{"qid", "pred_relevant_windows": [[s, e, score], ...],
            "pred_saliency_scores": [float per clip]}`` (other keys ignored).
        ground_truth: release lines ``{"qid", "duration", "relevant_windows": [[s, e], ...],
            "relevant_clip_ids", "saliency_scores": [[0-4 per annotator], ...]}``.
        max_windows: windows per query that count for mAP (the first ones as listed).
        clip_length: seconds per saliency clip.

    Returns:
        Flat ``{name: value}``, percentages: ``MR-{full,short,middle,long}-{mAP, mAP@0.5 ...
        mAP@0.95, R1@0.3, R1@0.5 ... R1@0.95, mIoU, num_queries}`` when any line has
        ``pred_relevant_windows``, ``HL-min-{Fair,Good,VeryGood}-{mAP,Hit1}`` when any line has
        ``pred_saliency_scores`` and the ground truth has saliency, plus ``num_queries`` and
        ``num_missing`` (ground-truth queries without a prediction, scored as misses).

    Raises:
        ValueError: duplicate qids, a prediction for a qid absent from the ground truth, a
            ground-truth query without windows, malformed windows.
    """
    if max_windows < 1:
        raise ValueError(f"max_windows must be at least 1, got {max_windows}")
    preds, gts = _index(submission, "submission"), _index(ground_truth, "ground truth")
    unknown = [q for q in preds if q not in gts]
    if unknown:
        raise ValueError(f"{len(unknown)} predictions for qids not in the ground truth, e.g. {unknown[:5]}")
    missing = [q for q in gts if q not in preds]
    out: dict[str, float] = {"num_queries": float(len(gts)), "num_missing": float(len(missing))}

    if any("pred_relevant_windows" in d for d in preds.values()):
        for q, g in gts.items():
            if not g.get("relevant_windows"):
                raise ValueError(f"ground truth qid {q!r} has no relevant_windows: moment retrieval needs them")
        windows = {q: _windows(preds[q]) if q in preds else [] for q in gts}
        for name, bounds in LENGTH_BUCKETS.items():
            out.update(_moment_retrieval(name, bounds, windows, gts, max_windows))

    has_saliency = [bool(g.get("saliency_scores")) for g in gts.values()]
    if any("pred_saliency_scores" in d for d in preds.values()) and any(has_saliency):
        for q, g in gts.items():
            if len(g.get("relevant_clip_ids") or []) != len(g.get("saliency_scores") or []):
                raise ValueError(f"ground truth qid {q!r}: relevant_clip_ids and saliency_scores differ in length")
        for name, level in SALIENCY_LEVELS.items():
            aps, hits = [], []
            for q, g in gts.items():
                ap, hit = highlight_scores(preds.get(q, {}).get("pred_saliency_scores") or [], g, level, clip_length)
                aps.append(ap)
                hits.append(hit)
            out[f"HL-min-{name}-mAP"] = 100 * sum(aps) / len(aps)
            out[f"HL-min-{name}-Hit1"] = 100 * sum(hits) / len(hits)
    return out


def _moment_retrieval(name: str, bounds: tuple[float, float] | None, windows: dict[Any, list],
                      gts: dict[Any, dict], max_windows: int) -> dict[str, float]:
    prefix = f"MR-{name}-"
    aps, r1_ious = [], []
    for q, g in gts.items():
        gt_windows = _in_bucket([[float(x) for x in w[:2]] for w in g["relevant_windows"]], bounds)
        if not gt_windows:
            continue
        pred = windows[q]
        aps.append(detection_ap(pred[:max_windows], gt_windows))
        if pred:
            first = pred[0][:2]
            ious = [temporal_iou(first, w) for w in gt_windows]
            best = gt_windows[max(range(len(ious)), key=lambda j: (ious[j], -j))]
            r1_ious.append(_hull_iou(first, best))
        else:
            r1_ious.append(0.0)
    n = len(aps)
    out = {prefix + "num_queries": float(n)}
    nan = float("nan")
    per_threshold = [100 * sum(a[k] for a in aps) / n if n else nan for k in range(len(IOU_THRESHOLDS))]
    out[prefix + "mAP"] = sum(per_threshold) / len(per_threshold) if n else nan
    for t, v in zip(IOU_THRESHOLDS, per_threshold):
        out[f"{prefix}mAP@{t}"] = v
    for t in R1_THRESHOLDS:
        out[f"{prefix}R1@{t}"] = 100 * sum(iou >= t for iou in r1_ious) / n if n else nan
    out[prefix + "mIoU"] = 100 * sum(r1_ious) / n if n else nan
    return out


__all__ = ["IOU_THRESHOLDS", "LENGTH_BUCKETS", "OFFICIAL_MAX_WINDOWS", "R1_THRESHOLDS", "SALIENCY_LEVELS",
           "detection_ap", "highlight_scores",
           "qvhighlights_metrics", "saliency_ap", "temporal_iou", "voc_average_precision"]
