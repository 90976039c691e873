"""MSR-VTT: caption JSON, the 1k-A test CSV, and MSRVTT-QA.

- ``train_val_videodatainfo.json`` / ``test_videodatainfo.json`` (or CLIP4Clip's combined
  ``MSRVTT_data.json``): ``{"videos": [{"video_id": "video0", "split": "train", ...}],
  "sentences": [{"video_id", "sen_id", "caption"}]}``.
- ``MSRVTT_JSFUSION_test.csv`` (the 1k-A protocol): ``key,vid_key,video_id,sentence``, one query
  caption per test video.
- MSRVTT-QA ``{train,val,test}_qa.json``: ``[{"answer", "id", "question", "video_id"}]`` with
  ``video_id`` the number N of ``videoN``: 0-based, as MSR-VTT's own names (video0-video9999);
  MSVD-QA's are 1-based (:mod:`.msvd_qa`).

Videos are ``videoN.mp4`` under the video root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, get, read_csv, read_json_array, read_json_object_arrays
from .errors import AnnotationError
from .records import CaptionedVideo, QASample, Records
from .registry import CAPTIONED_VIDEOS, QUESTIONS, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format

QUESTION_WORDS = ("what", "who", "how", "when", "where", "which", "why")


def question_word(question: str) -> str | None:
    """The question type of MSRVTT-QA and MSVD-QA (Xu et al., ACM MM 2017): the question's first
    word, lower-cased, where it is one of :data:`QUESTION_WORDS`; else ``None``."""
    first = question.split(maxsplit=1)[0].lower() if question.strip() else ""
    return first if first in QUESTION_WORDS else None


def read_open_qa(path: Path, video_name: Callable[[int, int | str], str]) -> list[QASample]:
    """The open-ended QA files of MSRVTT-QA and MSVD-QA (Xu et al., ACM MM 2017): a JSON array of
    ``{question, answer, video_id, id}``; ``video_name(line, video_id)`` names the video (the two
    datasets number them differently) or raises. ``type`` is the question word.

    Raises:
        AnnotationError: naming file and line, for a missing or mistyped key or a repeated id.
    """
    records, seen = [], {}
    for line, item in read_json_array(path):
        qid = str(get(path, line, item, "id", (int, str)))
        if qid in seen:
            raise AnnotationError(path, line, f"question id {qid} used twice (first on line {seen[qid]})")
        seen[qid] = line
        vid = video_name(line, get(path, line, item, "video_id", (int, str)))
        question = get(path, line, item, "question", str)
        answer = get(path, line, item, "answer", str)
        records.append(QASample(qid=qid, video_id=vid, video_path=None, question=question, answer=answer,
                                type=question_word(question), line=line))
    return records


def read_msrvtt(
    json_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    splits: Sequence[str] | None = None,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[CaptionedVideo]:
    """Read MSR-VTT videos with their captions (in ``sen_id`` order), in file order.

    Args:
        splits: keep only these ``split`` values (MSR-VTT uses train / validate / test).
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Raises:
        AnnotationError: naming file and line, for a malformed entry, a duplicate video, a
            sentence of an unknown video, or a video without sentences.
    """
    path = Path(json_path)
    data = read_json_object_arrays(path, ("videos", "sentences"))
    videos: dict[str, tuple[int, dict]] = {}
    for line, v in data["videos"]:
        vid = get(path, line, v, "video_id", str)
        get(path, line, v, "split", str)
        if vid in videos:
            raise AnnotationError(path, line, f"video {vid!r} listed twice (first on line {videos[vid][0]})")
        videos[vid] = (line, v)
    captions: dict[str, list[tuple[int, str]]] = {vid: [] for vid in videos}
    for line, s in data["sentences"]:
        vid = get(path, line, s, "video_id", str)
        caption = get(path, line, s, "caption", str)
        sen_id = get(path, line, s, "sen_id", int, required=False)
        if vid not in captions:
            raise AnnotationError(path, line, f"sentence of unknown video {vid!r}")
        captions[vid].append((sen_id if sen_id is not None else len(captions[vid]), caption))
    records = []
    for vid, (line, v) in videos.items():
        if splits is not None and v["split"] not in splits:
            continue
        if not captions[vid]:
            raise AnnotationError(path, line, f"video {vid!r} has no sentences")
        ordered = sorted(captions[vid])
        start = get(path, line, v, "start time", (int, float), required=False)
        end = get(path, line, v, "end time", (int, float), required=False)
        records.append(CaptionedVideo(
            video_id=vid, video_path=None, captions=tuple(c for _, c in ordered), split=v["split"],
            start=start, end=end, category=get(path, line, v, "category", int, required=False),
            keys=tuple(str(k) for k, _ in ordered), line=line))
    return attach_videos(records, lambda r: (r.video_id,), path, video_root, max_missing_ratio)


def read_msrvtt_1ka(
    csv_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[CaptionedVideo]:
    """Read the 1k-A test CSV: one record per row (query key, video, its one caption)."""
    path = Path(csv_path)
    records = []
    for line, row in read_csv(path, ("key", "video_id", "sentence")):
        vid = row["video_id"].strip()
        if not vid or not row["sentence"].strip():
            raise AnnotationError(path, line, "empty video_id or sentence")
        records.append(CaptionedVideo(video_id=vid, video_path=None, captions=(row["sentence"],), split="test",
                                      keys=(row["key"],), line=line))
    return attach_videos(records, lambda r: (r.video_id,), path, video_root, max_missing_ratio)


def read_msrvtt_qa(
    json_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[QASample]:
    """Read MSRVTT-QA (open-ended, one-word answers); ``type`` is the question word."""
    path = Path(json_path)

    def video_name(line: int, video: int | str) -> str:
        if isinstance(video, int) and video < 0:
            raise AnnotationError(path, line, f"video_id {video} is negative (MSRVTT-QA's are 0-9999, for videoN)")
        return f"video{video}" if isinstance(video, int) or str(video).isdigit() else str(video)

    records = read_open_qa(path, video_name)
    return attach_videos(records, lambda r: (r.video_id,), path, video_root, max_missing_ratio)


# The MSR-VTT split names a json split reads by default (``dataset.splits`` overrides them).
DEFAULT_SPLITS = {"train": ["train"], "val": ["validate", "val"], "test": ["test"]}


def _read_split(config: DatasetConfig, split: str) -> Records[CaptionedVideo]:
    """Each annotation file of the split: ``*.csv`` is a 1k-A query list (:func:`read_msrvtt_1ka`),
    anything else an MSR-VTT json keeping the videos of the split names in ``dataset.splits``
    (default :data:`DEFAULT_SPLITS`). For ``msrvtt_1ka`` the default train set is every video of
    the train files except those of the test CSV (the "9k" training set of the 1k-A protocol)."""
    key = config.source(split)
    one_ka = config.name == "msrvtt_1ka"
    root, ratio = config.video_root, config.max_missing_ratio
    names = (config.get("splits") or {}).get(key)
    if names is None and not (one_ka and key == "train"):
        names = DEFAULT_SPLITS.get(key, ["test"])

    def read(path: Path) -> Records[CaptionedVideo]:
        if path.suffix.lower() == ".csv":
            return read_msrvtt_1ka(path, root, max_missing_ratio=ratio)
        return read_msrvtt(path, root, splits=names, max_missing_ratio=ratio)

    records = read_files(config, split, read)
    if one_ka and key == "train" and "train" not in (config.get("splits") or {}) and config.get("test") is not None:
        held_out = {r.video_id for p in config.paths("test") if p.suffix.lower() == ".csv" for r in read_msrvtt_1ka(p)}
        records = Records([r for r in records if r.video_id not in held_out], source=records.source,
                          missing=records.missing)
    return records


def _read_qa_split(config: DatasetConfig, split: str) -> Records[QASample]:
    return read_files(config, split, lambda p: read_msrvtt_qa(p, config.video_root,
                                                              max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("msrvtt", CAPTIONED_VIDEOS, _read_split, optional=(*SPLITS, "splits"), one_of=(SPLITS,)))
register_format(DatasetFormat("msrvtt_1ka", CAPTIONED_VIDEOS, _read_split, optional=(*SPLITS, "splits"),
                              one_of=(SPLITS,)))
register_format(DatasetFormat("msrvtt_qa", QUESTIONS, _read_qa_split, optional=SPLITS, one_of=(SPLITS,)))
