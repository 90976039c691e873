"""The typed records the readers return, one kind per task family."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class MissingVideo:
    """A video an annotation names but the video root lacks; ``line`` is where it is named."""

    video_id: str
    line: int
    looked_for: str


class Records(list, Generic[T]):
    """A list of records plus what the reader learnt on the way.

    Attributes:
        source: the annotation file.
        classes: class names in label-index order (classification readers), else empty.
        missing: videos left out because their files are absent (see ``max_missing_ratio``).
    """

    def __init__(self, items=(), *, source: Path | None = None, classes: tuple[str, ...] = (),
                 missing: tuple[MissingVideo, ...] = ()):
        super().__init__(items)
        self.source = source
        self.classes = tuple(classes)
        self.missing = tuple(missing)


@dataclass(frozen=True)
class ClassificationSample:
    """A labelled clip (Kinetics, Something-Something v2).

    ``label_index``/``label_name`` are ``None`` for unlabelled test entries. ``time_start`` and
    ``time_end`` locate a Kinetics clip in its source video (seconds); ``text`` and
    ``placeholders`` carry SSv2's filled-in label ("Moving red circle up") and its objects.
    """

    video_id: str
    video_path: Path | None
    label_index: int | None
    label_name: str | None
    split: str | None = None
    time_start: float | None = None
    time_end: float | None = None
    text: str | None = None
    placeholders: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class CaptionedVideo:
    """A video with its captions (MSR-VTT and kin). ``keys`` holds the sentence ids (or the
    1k-A query keys), parallel to ``captions``."""

    video_id: str
    video_path: Path | None
    captions: tuple[str, ...]
    split: str | None = None
    start: float | None = None
    end: float | None = None
    category: int | None = None
    keys: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class GroundingQuery:
    """A moment-retrieval / highlight-detection query (QVHighlights).

    ``relevant_windows`` are (start, end) seconds; ``relevant_clip_ids`` index the
    ``clip_length``-second clips inside them, and ``saliency_scores`` gives each such clip one
    score (0-4) per annotator. All three are empty for unlabelled (test) queries.
    """

    qid: int | str
    query: str
    video_id: str
    video_path: Path | None
    duration: float
    relevant_windows: tuple[tuple[float, float], ...] = ()
    relevant_clip_ids: tuple[int, ...] = ()
    saliency_scores: tuple[tuple[int, ...], ...] = ()
    clip_length: float = 2.0
    line: int = 0


@dataclass(frozen=True)
class QASample:
    """A video question. Multiple choice (NExT-QA): ``options[answer_index] == answer``.
    Open-ended (MSRVTT-QA): ``options`` is empty and ``answer_index`` ``None``. ``type`` is the
    dataset's question type (NExT-QA codes such as ``TN``; MSRVTT-QA: the question word)."""

    qid: str
    video_id: str
    video_path: Path | None
    question: str
    answer: str | None
    answer_index: int | None = None
    options: tuple[str, ...] = ()
    type: str | None = None
    frame_count: int | None = None
    width: int | None = None
    height: int | None = None
    line: int = 0
