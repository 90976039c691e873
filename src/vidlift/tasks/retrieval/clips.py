"""Captioned videos of a retrieval split: a clip with one caption (training) or all of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...data.clips import VideoClips
from ...data.datasets import CaptionedVideo
from ...data.sources import VideoItem
from ...data.video import FrameSampler


class CaptionedClips(VideoClips):
    """:class:`~vidlift.data.clips.VideoClips` of captioned videos. In training, items add
    ``caption``: one caption, drawn from (seed, epoch, index) — or, with ``unfold``, where
    every (video, caption) pair is an item (CLIP4Clip's ``--expand_msrvtt_sentences``), the
    item's own; otherwise ``captions``: all of the video's, a tuple."""

    def __init__(self, records: Sequence[CaptionedVideo], sampler: FrameSampler, transform: Any,
                 backend: str = "pyav", seed: int = 0, train: bool = False, unfold: bool = False) -> None:
        self.records = list(records)
        self.items = ([(r, j) for r, rec in enumerate(self.records) for j in range(len(rec.captions))] if unfold
                      else [(r, None) for r in range(len(self.records))])
        videos = [VideoItem(self.records[r].video_id, self.records[r].video_path) for r, _ in self.items]
        super().__init__(videos, sampler, transform, backend, seed)
        self.train = train

    def annotation(self, i: int, epoch: int) -> dict[str, Any]:
        r, j = self.items[i]
        rec = self.records[r]
        if not self.train:
            return {"captions": tuple(rec.captions)}
        if j is None:  # a stream of its own: the frame sampler draws from (seed, epoch, i)
            j = int(np.random.default_rng((self.seed, epoch, i, 1)).integers(len(rec.captions)))
        return {"caption": rec.captions[j]}


__all__ = ["CaptionedClips"]
