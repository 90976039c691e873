"""Post-processing of predicted moments: rank, clamp, round to the clip unit, temporal NMS.

After Moment-DETR (Lei et al., NeurIPS 2021; github.com/jayleicn/moment_detr):
``moment_detr/inference.py`` sorts each query's windows by score (``sorted(..., reverse=True)``,
stable), ``PostProcessorDETR(process_func_names=("clip_ts", "round_multiple"))`` in
``moment_detr/postprocessing_moment_detr.py`` clamps timestamps to [0, 150] and rounds them to
the nearest multiple of the 2 s clip (``torch.round``: halves to even), and with ``--nms_thd``
``utils/temporal_nms.py`` runs greedy temporal NMS, dropping a window whose IoU with a kept,
higher-scored one is *above* the threshold.

Where vidlift departs, and why:
    * clamping is to the query's own ``duration``, not a fixed 150 s: videos of any length;
    * after rounding, an end past ``duration`` (a last, partial clip) is clamped again;
    * a window that rounding makes empty (shorter than a clip, e.g. [3.1, 3.9] -> [4, 4]) is
      *replaced by the clip holding its centre* ([2, 4] here) rather than kept empty as in
      Moment-DETR, where it can never match: a sub-clip prediction still names a clip;
    * NMS runs over all windows before cutting to ``max_windows``; Moment-DETR cuts to
      ``max_before_nms`` (10, its number of queries, so all of them) first;
    * scores keep full precision (Moment-DETR rounds them to 4 decimals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .metrics import temporal_iou


def _check(windows: Sequence[Sequence[float]], duration: float, clip_length: float) -> list[list[float]]:
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    if not (isinstance(clip_length, (int, float)) and clip_length > 0):
        raise ValueError(f"clip_length must be positive, got {clip_length!r}")
    out = []
    for i, w in enumerate(windows):
        if len(w) != 3 or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in w):
            raise ValueError(f"window {i}: expected [start, end, score] as finite numbers, got {list(w)!r}")
        if w[1] < w[0]:
            raise ValueError(f"window {i}: [{w[0]:g}, {w[1]:g}] ends before it starts")
        out.append([float(x) for x in w])
    return out


def _round_to_clip(start: float, end: float, duration: float, clip_length: float, clamp: bool) -> tuple[float, float]:
    s, e = round(start / clip_length) * clip_length, round(end / clip_length) * clip_length
    if clamp:
        s, e = min(s, duration), min(e, duration)
    if e > s:
        return s, e
    k = math.floor((start + end) / 2 / clip_length)  # the clip holding the window's centre
    if clamp:
        k = min(k, math.ceil(duration / clip_length - 1e-9) - 1)
    s = k * clip_length
    return s, min(s + clip_length, duration) if clamp else s + clip_length


def temporal_nms(windows: Sequence[Sequence[float]], threshold: float) -> list[list[float]]:
    """Greedy NMS over [start, end, score] windows already sorted by score: a window whose IoU
    with a kept one is > ``threshold`` is dropped."""
    kept: list[list[float]] = []
    for w in windows:
        if all(temporal_iou(w, k) <= threshold for k in kept):
            kept.append(list(w))
    return kept


def postprocess_windows(windows: list[list[float]], duration: float, *, clip_length: float = 2.0, clamp: bool = True,
                        round_to_clip: bool = False, nms_threshold: float | None = None,
                        max_windows: int = 10) -> list[list[float]]:
    """One query's predicted moments, ready for a QVHighlights submission.

    Args:
        windows: [[start, end, score], ...] in seconds, any order, ``start <= end``.
        duration: the video's length in seconds.
        clip_length: seconds per clip, the rounding unit.
        clamp: clamp start and end into [0, duration].
        round_to_clip: round start and end to the nearest multiple of ``clip_length`` (halves
            to even); a window this makes empty becomes the clip holding its centre.
        nms_threshold: if given, drop windows whose IoU with a higher-scored kept window
            exceeds it (temporal NMS, after clamping and rounding).
        max_windows: keep at most this many (the QVHighlights evaluator scores the first 10).

    Returns:
        [[start, end, score], ...] sorted by score, descending (stable: ties keep their order).

    Raises:
        ValueError: a malformed window, a non-positive duration or clip length, a bad threshold.
    """
    if nms_threshold is not None and not 0 <= nms_threshold <= 1:
        raise ValueError(f"nms_threshold must be in [0, 1], got {nms_threshold!r}")
    if max_windows < 1:
        raise ValueError(f"max_windows must be at least 1, got {max_windows}")
    ranked = sorted(_check(windows, duration, clip_length), key=lambda w: -w[2])
    out = []
    for s, e, score in ranked:
        if clamp:
            s, e = min(max(s, 0.0), duration), min(max(e, 0.0), duration)
        if round_to_clip:
            s, e = _round_to_clip(s, e, duration, clip_length, clamp)
        out.append([s, e, score])
    if nms_threshold is not None:
        out = temporal_nms(out, nms_threshold)
    return out[:max_windows]


__all__ = ["postprocess_windows", "temporal_nms"]
