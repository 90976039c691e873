"""NExT-QA multiple-choice CSVs (``train.csv`` / ``val.csv`` / ``test.csv``).

Columns ``video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4``: ``answer``
is the index of the right option (NExT-GQA's copies hold the answer text instead; both are
read), ``qid`` counts questions within a video, ``type`` is one of the codes below. Videos
live at ``NExTVideo/<group>/<video>.mp4``, the group given by ``map_vid_vidorID.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, read_csv, read_text
from .errors import AnnotationError
from .records import QASample, Records
from .registry import QUESTIONS, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format

QUESTION_TYPES = {
    "CW": "causal why", "CH": "causal how", "TN": "temporal next", "TP": "temporal previous",
    "TC": "temporal current", "DC": "descriptive count", "DL": "descriptive location", "DO": "descriptive other",
}
OPTION_COLUMNS = ("a0", "a1", "a2", "a3", "a4")


def _load_map(video_map: str | os.PathLike | dict | None) -> dict[str, str] | None:
    if video_map is None or isinstance(video_map, dict):
        return video_map
    path = Path(video_map)
    try:
        mapping = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise AnnotationError(path, e.lineno, f"malformed JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(mapping, dict):
        raise AnnotationError(path, None, "expected a JSON object {video: 'group/video'}")
    return {str(k): str(v) for k, v in mapping.items()}


def read_nextqa(
    csv_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    video_map: str | os.PathLike | dict | None = None,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[QASample]:
    """Read a NExT-QA CSV; ``qid`` of the records is ``"{video}_{qid}"`` (unique per file).

    Args:
        video_map: ``map_vid_vidorID.json`` (or its dict); without it videos are looked up
            by their id at any depth under ``video_root``.
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Raises:
        AnnotationError: naming file and line, for a missing column or field, an answer that
            is neither an option index nor an option's text, an unknown type code, a repeated
            question, or a video absent from ``video_map``.
    """
    path = Path(csv_path)
    mapping = _load_map(video_map)
    records, seen = [], {}
    for line, row in read_csv(path, ("video", "question", "answer", "qid", "type", *OPTION_COLUMNS)):
        video = row["video"].strip()
        options = tuple(row[c].strip() for c in OPTION_COLUMNS)
        if not video or not row["question"].strip() or not all(options):
            raise AnnotationError(path, line, "empty video, question or option")
        answer = row["answer"].strip()
        if answer.isdigit():
            index = int(answer)
            if index >= len(options):
                raise AnnotationError(path, line, f"answer {index} is not an option index (0-{len(options) - 1})")
        elif answer in options:
            index = options.index(answer)
        else:
            raise AnnotationError(path, line, f"answer {answer!r} is neither an option index nor an option")
        qtype = row["type"].strip()
        if qtype not in QUESTION_TYPES:
            raise AnnotationError(path, line, f"unknown question type {qtype!r}; NExT-QA types: "
                                              f"{', '.join(QUESTION_TYPES)}")
        key = f"{video}_{row['qid'].strip()}"
        if key in seen:
            raise AnnotationError(path, line, f"question {row['qid']} of video {video} repeated "
                                              f"(first on line {seen[key]})")
        seen[key] = line
        if mapping is not None and video not in mapping:
            raise AnnotationError(path, line, f"video {video} is not in the video map")
        records.append(QASample(
            qid=key, video_id=video, video_path=None, question=row["question"], answer=options[index],
            answer_index=index, options=options, type=qtype,
            frame_count=_int(row.get("frame_count")), width=_int(row.get("width")), height=_int(row.get("height")),
            line=line))
    names = (lambda r: (mapping[r.video_id], r.video_id)) if mapping is not None else (lambda r: (r.video_id,))
    return attach_videos(records, names, path, video_root, max_missing_ratio)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _read_split(config: DatasetConfig, split: str) -> Records[QASample]:
    """``video_map`` (map_vid_vidorID.json) finds videos stored as ``<group>/<video>``."""
    video_map = config.get("video_map")
    if isinstance(video_map, (str, os.PathLike)):
        video_map = config.resolve(video_map)
    return read_files(config, split, lambda p: read_nextqa(p, config.video_root, video_map=video_map,
                                                           max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("nextqa", QUESTIONS, _read_split, optional=(*SPLITS, "video_map"), one_of=(SPLITS,)))
