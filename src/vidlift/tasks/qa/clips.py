"""Questions of a QA split as clips: one item per question, its video decoded for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...data.clips import VideoClips
from ...data.datasets import QASample
from ...data.sources import VideoItem
from ...data.video import FrameSampler


class QAClips(VideoClips):
    """:class:`~vidlift.data.clips.VideoClips` of questions (:class:`~vidlift.data.datasets.QASample`).

    Items add ``qid`` (str), ``question`` (str), ``type`` (str, "" when the format has none),
    ``options`` (tuple of K option texts; empty for open-ended), ``answer_index`` (int: the
    right option, -1 for none) and ``answer_label`` (int: the answer's index in ``answers``,
    the open-ended vocabulary, -1 when the answer is out of it or there is no vocabulary).
    A video asked several questions is decoded once per question.
    """

    def __init__(self, records: Sequence[QASample], sampler: FrameSampler, transform: Any,
                 backend: str = "pyav", seed: int = 0, answers: Mapping[str, int] | None = None) -> None:
        self.records = list(records)
        self.answers = dict(answers or {})
        super().__init__([VideoItem(r.video_id, r.video_path) for r in self.records], sampler, transform, backend,
                         seed)

    def annotation(self, i: int, epoch: int) -> dict[str, Any]:
        r = self.records[i]
        return {"qid": r.qid, "question": r.question, "type": r.type or "", "options": tuple(r.options),
                "answer_index": -1 if r.answer_index is None else int(r.answer_index),
                "answer_label": self.answers.get(r.answer, -1) if r.answer is not None else -1}


__all__ = ["QAClips"]
