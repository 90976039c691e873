"""Score a QVHighlights-format submission file against a ground-truth file, as the official
standalone evaluator (``standalone_eval/eval.py`` of github.com/jayleicn/moment_detr) does, with
the semantics of :mod:`vidlift.tasks.grounding.metrics`, and with errors that name file and line.

Both files are JSON Lines. Policy for queries of the ground truth that the submission lacks: the
official evaluator refuses the file (``assert pred_qids == gt_qids``); vidlift scores them as
misses (no window, no saliency: 0 on every metric), logs how many and which, and reports
``num_missing``. A prediction for a qid that the ground truth lacks is an error, as is a qid
given twice.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from ...data.datasets.common import get, read_jsonl
from ...data.datasets.errors import AnnotationError
from ...table import render_table
from .metrics import LENGTH_BUCKETS, qvhighlights_metrics

log = logging.getLogger(__name__)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read_submission(path: str | os.PathLike, known_qids: set | None = None) -> list[dict]:
    """A submission file -> its lines, checked: ``qid`` present, unique and (if given) one of
    ``known_qids``, windows ``[start, end, score]`` with ``start <= end``, saliency a list of
    numbers."""
    path = Path(path)
    lines, seen = [], {}
    for line, d in read_jsonl(path):
        qid = get(path, line, d, "qid", (int, str))
        if qid in seen:
            raise AnnotationError(path, line, f"qid {qid!r} predicted twice (first on line {seen[qid]})")
        if known_qids is not None and qid not in known_qids:
            raise AnnotationError(path, line, f"qid {qid!r} is not in the ground truth")
        seen[qid] = line
        if "pred_relevant_windows" not in d and "pred_saliency_scores" not in d:
            raise AnnotationError(path, line, "neither 'pred_relevant_windows' nor 'pred_saliency_scores' given")
        for w in get(path, line, d, "pred_relevant_windows", list, required=False) or []:
            if not (isinstance(w, list) and len(w) == 3 and all(_number(x) for x in w)):
                raise AnnotationError(path, line, f"a predicted window should be [start, end, score], got {w!r}")
            if w[1] < w[0]:
                raise AnnotationError(path, line, f"predicted window [{w[0]:g}, {w[1]:g}] ends before it starts")
        saliency = get(path, line, d, "pred_saliency_scores", list, required=False) or []
        if not all(_number(x) for x in saliency):
            raise AnnotationError(path, line, "'pred_saliency_scores' should be a list of finite numbers")
        lines.append(d)
    if not lines:
        raise AnnotationError(path, None, "no predictions in the file")
    return lines


def read_ground_truth(path: str | os.PathLike, *, clip_length: float = 2.0) -> list[dict]:
    """A QVHighlights release file -> its lines, checked: unique ``qid``, positive ``duration``,
    at least one non-empty window ``[start, end]`` (a test release, without labels, cannot be
    scored), clip ids inside the video's clips with one 0-4 score per annotator each."""
    path = Path(path)
    lines, seen = [], {}
    for line, d in read_jsonl(path):
        qid = get(path, line, d, "qid", (int, str))
        if qid in seen:
            raise AnnotationError(path, line, f"qid {qid!r} used twice (first on line {seen[qid]})")
        seen[qid] = line
        duration = get(path, line, d, "duration", (int, float))
        if not duration > 0:
            raise AnnotationError(path, line, f"duration must be positive, got {duration!r}")
        windows = get(path, line, d, "relevant_windows", list, required=False)
        if not windows:
            raise AnnotationError(path, line, "no 'relevant_windows': an unlabelled (test) query cannot be scored")
        for w in windows:
            if not (isinstance(w, list) and len(w) == 2 and all(_number(x) for x in w) and w[0] < w[1]):
                raise AnnotationError(path, line, f"a window should be [start, end] with start < end, got {w!r}")
        ids = get(path, line, d, "relevant_clip_ids", list, required=False) or []
        scores = get(path, line, d, "saliency_scores", list, required=False) or []
        if len(ids) != len(scores):
            raise AnnotationError(path, line, f"{len(scores)} saliency scores for {len(ids)} relevant clips")
        num_clips = math.ceil(duration / clip_length - 1e-9)
        for c in ids:
            if not (isinstance(c, int) and not isinstance(c, bool) and 0 <= c < num_clips):
                raise AnnotationError(path, line, f"clip id {c!r} outside the {num_clips} clips of {duration:g} s")
        widths = {len(s) if isinstance(s, list) else -1 for s in scores}
        if len(widths) > 1 or any(not (isinstance(s, list) and s and all(isinstance(x, int) and 0 <= x <= 4 for x in s))
                                  for s in scores):
            raise AnnotationError(path, line, "saliency_scores should be lists of 0-4 integers, one per annotator, "
                                              "as many annotators for every clip")
        lines.append(d)
    if not lines:
        raise AnnotationError(path, None, "no queries in the file")
    return lines


def evaluate_files(predictions: str | os.PathLike, ground_truth: str | os.PathLike, *, max_windows: int = 10,
                   clip_length: float = 2.0) -> dict[str, float]:
    """Read, check and score a submission (see :func:`~vidlift.tasks.grounding.metrics.qvhighlights_metrics`).

    Raises:
        AnnotationError: naming file and line: malformed JSON, a missing key, a malformed
            window, a repeated qid, a prediction for a qid the ground truth lacks.
    """
    gts = read_ground_truth(ground_truth, clip_length=clip_length)
    preds = read_submission(predictions, {d["qid"] for d in gts})
    pred_qids = {d["qid"] for d in preds}
    missing = [d["qid"] for d in gts if d["qid"] not in pred_qids]
    if missing:
        log.warning("%s: no prediction for %d of %d queries (qids %s%s): scored as misses, 0 on every metric "
                    "(the official evaluator refuses such a file)", predictions, len(missing), len(gts),
                    ", ".join(map(str, missing[:10])), " ..." if len(missing) > 10 else "")
    return qvhighlights_metrics(preds, gts, max_windows=max_windows, clip_length=clip_length)


def metrics_table(metrics: dict[str, float]) -> str:
    """The metrics as text: moment retrieval with one column per length bucket, then highlight
    detection with one row per saliency level; NaN (an empty bucket) shows as ``-``."""
    def cell(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.2f}"

    parts = []
    buckets = [b for b in LENGTH_BUCKETS if f"MR-{b}-num_queries" in metrics]
    if buckets:
        names = [k[len("MR-full-"):] for k in metrics if k.startswith("MR-full-") and k != "MR-full-num_queries"]
        rows = [[n, *(cell(metrics[f"MR-{b}-{n}"]) for b in buckets)] for n in names]
        rows.append(["queries", *(int(metrics[f"MR-{b}-num_queries"]) for b in buckets)])
        parts.append(render_table(["moment retrieval", *buckets], rows, align="<" + ">" * len(buckets)))
    levels = [k[len("HL-min-"):-len("-mAP")] for k in metrics if k.startswith("HL-min-") and k.endswith("-mAP")]
    if levels:
        rows = [[lv, cell(metrics[f"HL-min-{lv}-mAP"]), cell(metrics[f"HL-min-{lv}-Hit1"])] for lv in levels]
        parts.append(render_table(["highlight (min score)", "mAP", "HIT@1"], rows, align="<>>"))
    parts.append(f"{int(metrics['num_queries'])} queries, {int(metrics['num_missing'])} without a prediction")
    return "\n\n".join(parts)


__all__ = ["evaluate_files", "metrics_table", "read_ground_truth", "read_submission"]
