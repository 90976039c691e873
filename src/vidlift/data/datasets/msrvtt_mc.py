"""MSRVTT-MC, the multiple-choice test of JSFusion (Yu, Kim & Kim, "A Joint Sequence Fusion Model
for Video Question Answering and Retrieval", ECCV 2018): 2,990 test videos of MSR-VTT, each with
five captions of which one describes it. There is no question: the model picks the caption
that matches the video, so ``question`` is ``""`` and a QA task scores video against each option.

Two copies circulate, both read (by the file's suffix):

- ``msrvtt_mc_test.jsonl`` (ClipBERT / ALPRO / VIOLET, github.com/jayleicn/ClipBERT): one object
  per line, ``{"qid": ..., "clip_name": "video7020", "options": [5 captions], "answer": 2}``
  (``answer`` the index of the right option; some copies hold it as a string "2").
- ``msrvtt_mc_test.json`` (Singularity / VindLU / UMT): one array of ``{"video":
  "video7020.mp4", "caption": [5 captions], "answer": 2}``, without qids.

``qid`` is the file's ``qid`` where given, else the entry's position in the file ("0", "1",
...). Videos are ``videoN.mp4`` under the video root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, get, read_json_array, read_jsonl, video_name
from .errors import AnnotationError
from .records import QASample, Records
from .registry import QUESTIONS, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format

# The field names of each copy: (video, options).
LAYOUTS = (("clip_name", "options"), ("video", "caption"))


def _field(path: Path, line: int, entry: Any, names: tuple[str, ...], types: type | tuple[type, ...]) -> Any:
    """The first of ``names`` present in ``entry``, checked; a clear error when none is."""
    for name in names:
        if isinstance(entry, dict) and entry.get(name) is not None:
            return get(path, line, entry, name, types)
    if not isinstance(entry, dict):
        raise AnnotationError(path, line, f"expected a JSON object, got {type(entry).__name__}")
    raise AnnotationError(path, line, f"missing key {' or '.join(repr(n) for n in names)}")


def _answer_index(path: Path, line: int, answer: Any, options: tuple[str, ...]) -> int:
    """An option index (int or digit string) or an option's text -> the index."""
    if isinstance(answer, int) and not isinstance(answer, bool):
        index = answer
    elif isinstance(answer, str) and answer.strip().isdigit():
        index = int(answer)
    elif isinstance(answer, str) and answer.strip() in options:
        return options.index(answer.strip())
    else:
        raise AnnotationError(path, line, f"answer {answer!r} is neither an option index nor an option")
    if not 0 <= index < len(options):
        raise AnnotationError(path, line, f"answer {index} is not an option index (0-{len(options) - 1})")
    return index


def read_msrvtt_mc(
    path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[QASample]:
    """Read MSRVTT-MC (``.jsonl``: one object a line; otherwise a JSON array), in file order.

    Args:
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Returns:
        ``Records`` of :class:`QASample` with ``question`` ``""``, ``options`` the captions,
        ``answer_index`` the right one and ``answer`` its text.

    Raises:
        AnnotationError: naming file and line, for malformed JSON, a missing or mistyped key,
            fewer than two options or an empty one, an answer that is neither an option index
            nor an option's text, or a repeated qid.
    """
    path = Path(path)
    entries = list(read_jsonl(path)) if path.suffix.lower() == ".jsonl" else read_json_array(path)
    records, seen = [], {}
    for position, (line, item) in enumerate(entries):
        video = video_name(_field(path, line, item, tuple(v for v, _ in LAYOUTS), str).strip())
        options = _field(path, line, item, tuple(o for _, o in LAYOUTS), list)
        if len(options) < 2 or not all(isinstance(o, str) and o.strip() for o in options):
            raise AnnotationError(path, line, f"options should be two or more non-empty captions, got {options!r}")
        options = tuple(o.strip() for o in options)
        index = _answer_index(path, line, get(path, line, item, "answer", (int, str)), options)
        qid = get(path, line, item, "qid", (int, str), required=False)
        qid = str(qid if qid is not None else position)
        if qid in seen:
            raise AnnotationError(path, line, f"qid {qid} used twice (first on line {seen[qid]})")
        seen[qid] = line
        if not video:
            raise AnnotationError(path, line, "empty video name")
        records.append(QASample(qid=qid, video_id=video, video_path=None, question="", answer=options[index],
                                answer_index=index, options=options, line=line))
    return attach_videos(records, lambda r: (r.video_id,), path, video_root, max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[QASample]:
    return read_files(config, split, lambda p: read_msrvtt_mc(p, config.video_root,
                                                              max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("msrvtt_mc", QUESTIONS, _read_split, optional=SPLITS, one_of=(SPLITS,)))
