"""QVHighlights JSON Lines (``highlight_{train,val,test}_release.jsonl``).

One query per line: ``{"qid", "query", "duration", "vid", "relevant_windows": [[s, e], ...],
"relevant_clip_ids": [...], "saliency_scores": [[a, b, c], ...]}``; clip ``i`` is the
``clip_length``-second clip starting at ``i * clip_length`` (2 s in QVHighlights), and each
relevant clip has one 0-4 score per annotator. The test release lacks the last three keys.
Videos are ``{vid}.mp4``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, get, read_jsonl
from .errors import AnnotationError
from .records import GroundingQuery, Records
from .registry import MOMENT_QUERIES, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format

MAX_SALIENCY = 4


def read_qvhighlights(
    jsonl_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    clip_length: float = 2.0,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[GroundingQuery]:
    """Read QVHighlights-format queries. ``video_root``/``max_missing_ratio`` as in
    :func:`~vidlift.data.datasets.read_kinetics`.

    Raises:
        AnnotationError: naming file and line, for malformed JSON, a missing key, a window
            outside ``[0, duration]`` or empty, a clip id outside the video, saliency scores
            not matching the clip ids or outside 0-4, or a repeated qid.
    """
    path = Path(jsonl_path)
    records, seen = [], {}
    for line, q in read_jsonl(path):
        qid = get(path, line, q, "qid", (int, str))
        if qid in seen:
            raise AnnotationError(path, line, f"qid {qid} used twice (first on line {seen[qid]})")
        seen[qid] = line
        text = get(path, line, q, "query", str)
        vid = get(path, line, q, "vid", str)
        duration = float(get(path, line, q, "duration", (int, float)))
        if duration <= 0:
            raise AnnotationError(path, line, f"duration must be positive, got {duration:g}")
        windows = []
        for w in get(path, line, q, "relevant_windows", list, required=False) or []:
            if not (isinstance(w, list) and len(w) == 2 and all(isinstance(x, (int, float)) for x in w)):
                raise AnnotationError(path, line, f"a window should be [start, end] in seconds, got {w!r}")
            s, e = float(w[0]), float(w[1])
            if not 0 <= s < e <= duration:
                raise AnnotationError(path, line, f"window [{s:g}, {e:g}] is not inside the video's duration "
                                                  f"[0, {duration:g}] (or is empty)")
            windows.append((s, e))
        num_clips = math.ceil(duration / clip_length - 1e-9)
        ids = get(path, line, q, "relevant_clip_ids", list, required=False) or []
        for c in ids:
            if not isinstance(c, int) or not 0 <= c < num_clips:
                raise AnnotationError(path, line, f"clip id {c!r} outside the {num_clips} clips of {duration:g} s")
        scores = get(path, line, q, "saliency_scores", list, required=False) or []
        if len(scores) != len(ids):
            raise AnnotationError(path, line, f"{len(scores)} saliency scores for {len(ids)} relevant clips")
        for sc in scores:
            if not (isinstance(sc, list) and sc and all(isinstance(x, int) and 0 <= x <= MAX_SALIENCY for x in sc)):
                raise AnnotationError(path, line, f"saliency scores should be lists of integers 0-{MAX_SALIENCY}, "
                                                  f"got {sc!r}")
        records.append(GroundingQuery(
            qid=qid, query=text, video_id=vid, video_path=None, duration=duration,
            relevant_windows=tuple(windows), relevant_clip_ids=tuple(ids),
            saliency_scores=tuple(tuple(sc) for sc in scores), clip_length=clip_length, line=line))
    return attach_videos(records, lambda r: (r.video_id,), path, video_root, max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[GroundingQuery]:
    return read_files(config, split, lambda p: read_qvhighlights(
        p, config.video_root, clip_length=float(config.get("clip_length", 2.0)),
        max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("qvhighlights", MOMENT_QUERIES, _read_split, optional=(*SPLITS, "clip_length"),
                              one_of=(SPLITS,)))
