"""TACoS (Regneri et al., "Grounding Action Descriptions in Videos", TACL 2013) for temporal
grounding, in the JSON 2D-TAN released (Zhang et al., AAAI 2020; github.com/microsoft/2D-TAN,
``data/TACoS/{train,val,test}.json``, 75 / 27 / 25 videos) and the methods after it use.

One JSON object keyed by video file name: ``{"s30-d52.avi": {"timestamps": [[141, 354], ...],
"sentences": ["She took out kiwi", ...], "fps": 29.4, "num_frames": 7346}}``. Timestamps are in
**frames**: as 2D-TAN's loader (``lib/datasets/tacos.py``) does, each is divided by the file's
``fps``, the start raised to 0 and the end lowered to the duration ``num_frames / fps`` (43 ends
of the train file lie past it); a window left empty (start >= end) is dropped, here with a
warning (2D-TAN drops it silently; the release has none).

``video_id`` is the key without its video extension ("s30-d52"), ``qid`` is
``"{video_id}_{index}"`` with the index of the sentence in its video's list, as in lighthouse's
converted copy (github.com/line/lighthouse, ``data/tacos/tacos_test_release.jsonl``: qid
"s30-d52_0", windows in seconds). Videos are found by the key with or without its extension
(``s30-d52.avi`` or ``s30-d52.mp4``). Features default to one per 2 s (lighthouse's
``configs/dataset/tacos.yml``: ``clip_length: 2``; R²-Tuning samples TACoS at 0.5 fps).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, get, read_json_object, video_name, warn_dropped
from .errors import AnnotationError
from .records import GroundingQuery, Records
from .registry import MOMENT_QUERIES, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format

DEFAULT_CLIP_LENGTH = 2.0


def _frames(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_tacos(
    json_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    clip_length: float = DEFAULT_CLIP_LENGTH,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[GroundingQuery]:
    """Read a TACoS grounding file: one query per (video, sentence), in file order, windows in
    seconds.

    Args:
        clip_length: seconds per feature clip (default 2, see the module docstring).
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Raises:
        AnnotationError: naming file and line (of the video's key), for malformed JSON, a
            missing or mistyped key, a non-positive ``fps`` or ``num_frames``, sentences and
            timestamps of different lengths, an empty sentence, or a timestamp that is not two
            frame numbers.
    """
    path = Path(json_path)
    records, empty_at, total = [], [], 0
    for line, key, entry in read_json_object(path):
        vid = video_name(key)
        fps = float(get(path, line, entry, "fps", (int, float)))
        num_frames = float(get(path, line, entry, "num_frames", (int, float)))
        timestamps = get(path, line, entry, "timestamps", list)
        sentences = get(path, line, entry, "sentences", list)
        if not (fps > 0 and num_frames > 0):
            raise AnnotationError(path, line, f"{key}: fps and num_frames must be positive, got {fps:g} and "
                                              f"{num_frames:g}")
        if len(timestamps) != len(sentences):
            raise AnnotationError(path, line, f"{key}: {len(sentences)} sentences but {len(timestamps)} timestamps")
        duration = num_frames / fps
        for i, (t, s) in enumerate(zip(timestamps, sentences)):
            if not (isinstance(s, str) and s.strip()):
                raise AnnotationError(path, line, f"{key}: sentence {i} should be a non-empty str, got {s!r}")
            if not (isinstance(t, list) and len(t) == 2 and all(_frames(x) for x in t)):
                raise AnnotationError(path, line, f"{key}: timestamp {i} should be [start, end] frames, got {t!r}")
            total += 1
            start, end = max(t[0] / fps, 0.0), min(t[1] / fps, duration)
            if start >= end:
                empty_at.append((line, f"{key} sentence {i}"))
                continue
            records.append(GroundingQuery(qid=f"{vid}_{i}", query=s.strip(), video_id=vid, video_path=None,
                                          duration=duration, relevant_windows=((start, end),),
                                          clip_length=clip_length, line=line or 0))
    warn_dropped(path, empty_at, total, "whose window is empty (start >= end after clipping to the duration)")
    return attach_videos(records, lambda r: (r.video_id,), path, video_root, max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[GroundingQuery]:
    return read_files(config, split, lambda p: read_tacos(
        p, config.video_root, clip_length=float(config.get("clip_length", DEFAULT_CLIP_LENGTH)),
        max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("tacos", MOMENT_QUERIES, _read_split, optional=(*SPLITS, "clip_length"),
                              one_of=(SPLITS,)))
