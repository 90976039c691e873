"""ActivityNet Captions (Krishna, Hata, Ren, Fei-Fei & Niebles, "Dense-Captioning Events in
Videos", ICCV 2017): the official ``train.json`` / ``val_1.json`` / ``val_2.json``.

Each file is one JSON object keyed by video id: ``{"v_QOlSCBRmfWY": {"duration": 82.73,
"timestamps": [[0.83, 19.86], [17.37, 60.81], ...], "sentences": ["A young woman is seen ...",
" The girl dances ...", ...]}}``, one ``[start, end]`` (seconds) per sentence. val_1 and val_2
annotate the same videos by different annotators. Sentences often carry a leading space; they
are stripped. A few ends in the release lie past ``duration``; times are clipped to
``[0, duration]``.

Text-to-video retrieval (CLIP4Clip and its successors) treats ActivityNet Captions as paragraph
retrieval: each video's sentences joined into one query, trained on ``train.json`` and tested
on ``val_1.json``. Videos are found as ``v_<id>.*`` (the ActivityNet download, ``.mp4`` or
``.mkv``) or ``<id>.*`` (CLIP4Clip's naming), anywhere under the video root.

Temporal grounding (format ``activitynet_grounding``) reads each (video, sentence, timestamp)
as one query. The grounding literature has no test set of its own here: 2D-TAN (Zhang et al.,
AAAI 2020; github.com/microsoft/2D-TAN, ``lib/datasets/activitynet.py``: "val_1.json is renamed
as val.json, val_2.json is renamed as test.json") validates on ``val_1`` and tests on ``val_2``,
and the methods compared against it follow. So a config may name the files by their release
names: split "val" reads ``val`` or else ``val_1``, "test" reads ``test`` or else ``val_2``
("predict" reads ``predict``, ``test``, then ``val_2``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, get, read_json_object, warn_dropped
from .errors import AnnotationError
from .records import CaptionedVideo, GroundingQuery, Records
from .registry import (
                       CAPTIONED_VIDEOS,
                       MOMENT_QUERIES,
                       SPLITS,
                       DatasetConfig,
                       DatasetFormat,
                       read_files,
                       register_format,
                       split_key,
)

# The grounding literature's names for the two validation files (see the module docstring).
GROUNDING_FALLBACK = {"val": "val_1", "test": "val_2"}


@dataclass(frozen=True)
class Moment:
    """One annotated sentence of a video: ``index`` in the video's list, times in seconds
    clipped to ``[0, duration]`` (``start > end`` where the release has them reversed)."""

    index: int
    sentence: str
    start: float
    end: float


@dataclass(frozen=True)
class AnnotatedVideo:
    video_id: str
    duration: float
    moments: tuple[Moment, ...]
    line: int | None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_activitynet_videos(json_file: str | os.PathLike) -> list[AnnotatedVideo]:
    """The videos of an ActivityNet Captions file, in file order, checked; the parsing both
    :func:`read_activitynet_captions` and :func:`read_activitynet_grounding` use.

    Raises:
        AnnotationError: naming file and line (of the video's key), for malformed JSON, a
            missing or mistyped key, a non-positive duration, sentences and timestamps of
            different lengths, or no sentences.
    """
    path = Path(json_file)
    videos = []
    for line, vid, entry in read_json_object(path):
        duration = get(path, line, entry, "duration", (int, float))
        timestamps = get(path, line, entry, "timestamps", list)
        sentences = get(path, line, entry, "sentences", list)
        if duration <= 0:
            raise AnnotationError(path, line, f"{vid}: duration must be positive, got {duration!r}")
        if not sentences:
            raise AnnotationError(path, line, f"{vid}: no sentences")
        if len(timestamps) != len(sentences):
            raise AnnotationError(path, line, f"{vid}: {len(sentences)} sentences but {len(timestamps)} timestamps")
        moments = []
        for i, (t, s) in enumerate(zip(timestamps, sentences)):
            if not isinstance(s, str):
                raise AnnotationError(path, line, f"{vid}: sentence {i} should be str, got {s!r}")
            if not (isinstance(t, list) and len(t) == 2 and all(_number(x) for x in t)):
                raise AnnotationError(path, line, f"{vid}: timestamp {i} should be [start, end] seconds, got {t!r}")
            start, end = (min(max(float(x), 0.0), float(duration)) for x in t)
            moments.append(Moment(i, s.strip(), start, end))
        videos.append(AnnotatedVideo(vid, float(duration), tuple(moments), line))
    return videos


def _names(r: CaptionedVideo | GroundingQuery) -> tuple[str, str]:
    return r.video_id, r.video_id.removeprefix("v_")


def read_activitynet_captions(
    json_file: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    paragraph: bool = True,
    *,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[CaptionedVideo]:
    """Read ActivityNet Captions, in file order.

    Args:
        paragraph: ``True``: one record per video whose single caption is its sentences joined
            by spaces, in file order (``start``/``end`` ``None``: the whole video). ``False``: one
            record per sentence with its ``start``/``end`` seconds and ``keys`` its index in
            the video's list ("0", "1", ...); a sentence whose start is after its end (two in
            the official ``train.json``) is left out with a warning.
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Returns:
        ``Records`` of :class:`CaptionedVideo`; ``split`` is the file name ("train", "val_1",
        "val_2"); ``line`` is the line of the video's key.

    Raises:
        AnnotationError: as :func:`read_activitynet_videos`.
    """
    path = Path(json_file)
    split = path.stem
    records, reversed_at, total = [], [], 0
    for v in read_activitynet_videos(path):
        if paragraph:
            records.append(CaptionedVideo(video_id=v.video_id, video_path=None, split=split, line=v.line,
                                          captions=(" ".join(m.sentence for m in v.moments if m.sentence),)))
            continue
        for m in v.moments:
            total += 1
            if m.start > m.end:
                reversed_at.append((v.line, f"{v.video_id} sentence {m.index}"))
                continue
            records.append(CaptionedVideo(video_id=v.video_id, video_path=None, captions=(m.sentence,), split=split,
                                          start=m.start, end=m.end, keys=(str(m.index),), line=v.line))
    warn_dropped(path, reversed_at, total, "whose timestamp starts after it ends")
    return attach_videos(records, _names, path, video_root, max_missing_ratio)


def read_activitynet_grounding(
    json_file: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    clip_length: float = 2.0,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[GroundingQuery]:
    """Read ActivityNet Captions as temporal grounding queries: one per (video, sentence).

    ``qid`` is ``"{video_id}_{index}"``, the index of the sentence in its video's list (unique
    per file); ``relevant_windows`` holds its one timestamp, clipped to ``[0, duration]``. As
    2D-TAN's loader does, a sentence whose window is empty after clipping (start >= end: four
    in the official ``train.json``) is left out, here with a warning naming the lines.

    Args:
        clip_length: seconds per feature clip (2 s, as lighthouse's ActivityNet config).
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Raises:
        AnnotationError: as :func:`read_activitynet_videos`.
    """
    path = Path(json_file)
    records, empty_at, total = [], [], 0
    for v in read_activitynet_videos(path):
        for m in v.moments:
            total += 1
            if m.start >= m.end:
                empty_at.append((v.line, f"{v.video_id} sentence {m.index}"))
                continue
            records.append(GroundingQuery(
                qid=f"{v.video_id}_{m.index}", query=m.sentence, video_id=v.video_id, video_path=None,
                duration=v.duration, relevant_windows=((m.start, m.end),), clip_length=clip_length,
                line=v.line or 0))
    warn_dropped(path, empty_at, total, "whose window is empty (start >= end after clipping to the duration)")
    return attach_videos(records, _names, path, video_root, max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[CaptionedVideo]:
    """``paragraph`` (default true) joins a video's sentences into one query."""
    return read_files(config, split, lambda p: read_activitynet_captions(
        p, config.video_root, bool(config.get("paragraph", True)), max_missing_ratio=config.max_missing_ratio))


def grounding_split_key(config: DatasetConfig, split: str) -> str | None:
    """The split's own key, else the release's name for it: "val" reads ``val_1``, "test" (and
    "predict", after ``test``) reads ``val_2``."""
    key = split_key(config, split)
    if key is not None:
        return key
    fallback = GROUNDING_FALLBACK.get("test" if split == "predict" else split)
    return fallback if fallback is not None and config.get(fallback) is not None else None


def _read_grounding_split(config: DatasetConfig, split: str) -> Records[GroundingQuery]:
    return read_files(config, split, lambda p: read_activitynet_grounding(
        p, config.video_root, clip_length=float(config.get("clip_length", 2.0)),
        max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("activitynet", CAPTIONED_VIDEOS, _read_split, optional=(*SPLITS, "paragraph"),
                              one_of=(SPLITS,)))
register_format(DatasetFormat("activitynet_grounding", MOMENT_QUERIES, _read_grounding_split,
                              optional=(*SPLITS, *GROUNDING_FALLBACK.values(), "clip_length"),
                              split_source=grounding_split_key,
                              one_of=((*SPLITS, *GROUNDING_FALLBACK.values()),)))
