"""MSVD-QA (Xu et al., "Video Question Answering via Gradually Refined Attention over
Appearance and Motion", ACM MM 2017; github.com/xudejing/video-question-answering):
``train_qa.json`` / ``val_qa.json`` / ``test_qa.json`` and ``youtube_mapping.txt``.

Each file is a list ``[{"answer": "man", "id": 0, "question": "who is cutting a ...?",
"video_id": 1}, ...]``: open-ended questions with one-word answers, generated from MSVD's
captions. ``video_id`` N is **1-based** (vid1 ... vid1970), unlike MSRVTT-QA's 0-based
``videoN`` (:func:`~vidlift.data.datasets.read_msrvtt_qa`): it names ``vidN``, and
``youtube_mapping.txt`` (lines ``<youtube clip> vidN``, "-4wsuPCjDBc_5_15 vid1") maps that to the
MSVD file ``YouTubeClips/<youtube clip>.avi``, as HCRN's preprocessing does
(github.com/thaolmk54/hcrn-videoqa ``preprocess/datautils/msvd_qa.py``). Without the mapping,
videos are looked up as ``vidN.*`` (copies renamed that way). ``video_id`` of the records is
``vidN`` either way; ``type`` is the question word (what / who / how / when / where), as for
MSRVTT-QA.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, read_text
from .errors import AnnotationError
from .msrvtt import read_open_qa
from .records import QASample, Records
from .registry import QUESTIONS, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format


def read_youtube_mapping(path: str | os.PathLike) -> dict[str, str]:
    """``youtube_mapping.txt`` -> ``{"vidN": youtube clip name}``.

    Raises:
        AnnotationError: naming file and line, for a line that is not two fields
            ``<clip> vidN`` or a ``vidN`` listed twice.
    """
    path = Path(path)
    mapping: dict[str, str] = {}
    lines: dict[str, int] = {}
    for line, raw in enumerate(read_text(path).splitlines(), 1):
        if not raw.strip():
            continue
        fields = raw.split()
        if len(fields) != 2 or not fields[1].startswith("vid") or not fields[1][3:].isdigit():
            raise AnnotationError(path, line, f"expected '<youtube clip> vidN', got {raw.strip()!r}")
        clip, vid = fields
        if vid in mapping:
            raise AnnotationError(path, line, f"{vid} mapped twice (first on line {lines[vid]})")
        mapping[vid], lines[vid] = clip, line
    return mapping


def read_msvd_qa(
    json_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    video_map: str | os.PathLike | Mapping[str, str] | None = None,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[QASample]:
    """Read an MSVD-QA file (open-ended: ``options`` empty, ``answer_index`` ``None``).

    Args:
        video_map: ``youtube_mapping.txt`` (or its ``{"vidN": clip}``): videos are then found
            as ``<clip>.*``; without it as ``vidN.*``.
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Raises:
        AnnotationError: naming file and line, for malformed JSON, a missing or mistyped key,
            a ``video_id`` below 1, a repeated question id, or a video absent from the mapping.
    """
    path = Path(json_path)
    mapping = read_youtube_mapping(video_map) if isinstance(video_map, (str, os.PathLike)) else video_map
    map_name = str(video_map) if isinstance(video_map, (str, os.PathLike)) else "the video map"

    def video_name(line: int, video: int | str) -> str:
        number = str(video).removeprefix("vid")
        if not number.isdigit() or int(number) < 1:
            raise AnnotationError(path, line, f"video_id should be a number N >= 1 (MSVD-QA's ids are 1-based, "
                                              f"naming vidN), got {video!r}")
        vid = f"vid{int(number)}"
        if mapping is not None and vid not in mapping:
            raise AnnotationError(path, line, f"{vid} is not in {map_name}")
        return vid

    records = read_open_qa(path, video_name)
    names = (lambda r: (mapping[r.video_id], r.video_id)) if mapping is not None else (lambda r: (r.video_id,))
    return attach_videos(records, names, path, video_root, max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[QASample]:
    """``video_map``: ``youtube_mapping.txt``."""
    video_map = config.path("video_map") if config.get("video_map") is not None else None
    return read_files(config, split, lambda p: read_msvd_qa(p, config.video_root, video_map=video_map,
                                                            max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("msvd_qa", QUESTIONS, _read_split, optional=(*SPLITS, "video_map"), one_of=(SPLITS,)))
