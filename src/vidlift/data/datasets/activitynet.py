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
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, get, read_text
from .errors import AnnotationError
from .records import CaptionedVideo, Records
from .registry import CAPTIONED_VIDEOS, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format


def _entries(path: Path) -> list[tuple[int | None, str, Any]]:
    """(line of the key, video id, value) for each member of the top-level object, in file order."""
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, e.lineno, f"malformed JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(data, dict):
        raise AnnotationError(path, None, "expected a JSON object {video id: {duration, timestamps, sentences}}")
    out, pos, line = [], 0, 1
    for key, value in data.items():
        found = text.find(json.dumps(key, ensure_ascii=False), pos)
        if found >= 0:  # keys come in file order, so each search starts where the last one hit
            line += text.count("\n", pos, found)
            pos = found
        out.append((line if found >= 0 else None, key, value))
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
            the video's list ("0", "1", ...).
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Returns:
        ``Records`` of :class:`CaptionedVideo`; ``split`` is the file name ("train", "val_1",
        "val_2"); ``line`` is the line of the video's key.

    Raises:
        AnnotationError: naming file and line (of the video's key), for malformed JSON, a
            missing or mistyped key, a non-positive duration, sentences and timestamps of
            different lengths, no sentences, or a timestamp whose start is after its end.
    """
    path = Path(json_file)
    split = path.stem
    records = []
    for line, vid, entry in _entries(path):
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
            if t[0] > t[1]:
                raise AnnotationError(path, line, f"{vid}: timestamp {i} {t!r} starts after it ends")
            start, end = (min(max(float(x), 0.0), float(duration)) for x in t)
            moments.append(CaptionedVideo(video_id=vid, video_path=None, captions=(s.strip(),), split=split,
                                          start=start, end=end, keys=(str(i),), line=line))
        if paragraph:
            records.append(CaptionedVideo(video_id=vid, video_path=None, split=split, line=line,
                                          captions=(" ".join(m.captions[0] for m in moments if m.captions[0]),)))
        else:
            records.extend(moments)
    return attach_videos(records, lambda r: (r.video_id, r.video_id.removeprefix("v_")), path, video_root,
                         max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[CaptionedVideo]:
    """``paragraph`` (default true) joins a video's sentences into one query."""
    return read_files(config, split, lambda p: read_activitynet_captions(
        p, config.video_root, bool(config.get("paragraph", True)), max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("activitynet", CAPTIONED_VIDEOS, _read_split, optional=(*SPLITS, "paragraph"),
                              one_of=(SPLITS,)))
