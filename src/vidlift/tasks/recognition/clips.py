"""Labelled clips of a recognition split, and the test-time sampling of multi-view testing.

Multi-view testing ("8×3×4": frames × crops × clips, e.g. Text4Vis, BIKE, X-CLIP) averages
the scores of ``clips`` temporally shifted TSN samplings
(:class:`~vidlift.data.video.MultiViewSampler`) × ``crops`` spatial crops (1 centre, or 3 along
the longer side: :meth:`~vidlift.data.transforms.VideoTransform.three_crops`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...data.clips import VideoClips
from ...data.datasets import ClassificationSample
from ...data.sources import VideoItem
from ...data.video import FrameSampler, MultiViewSampler, SegmentSampler


class RecognitionClips(VideoClips):
    """:class:`~vidlift.data.clips.VideoClips` of labelled samples: items add ``label`` (int,
    -1 when unlabelled). ``video`` is (T, 3, S, S), or (V, T, 3, S, S) for multi-view testing."""

    def __init__(self, samples: Sequence[ClassificationSample], sampler: FrameSampler, transform: Any,
                 backend: str = "pyav", seed: int = 0, crops: int = 1) -> None:
        self.samples = list(samples)
        super().__init__([VideoItem(s.video_id, s.video_path) for s in self.samples], sampler, transform,
                         backend, seed, crops)

    def annotation(self, i: int, epoch: int) -> dict[str, Any]:
        label = self.samples[i].label_index
        return {"label": -1 if label is None else int(label)}


def eval_sampler(frames: int, clips: int) -> FrameSampler:
    """The test-time sampler: centre frames for one clip, shifted TSN samplings for more."""
    return SegmentSampler(frames, "test") if clips == 1 else MultiViewSampler(frames, clips)


__all__ = ["RecognitionClips", "eval_sampler"]
