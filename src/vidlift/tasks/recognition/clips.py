"""Labelled clips of a recognition split, and which frames each split samples.

Two samplings (the task's ``sampling`` key):

- ``tsn`` (Wang et al., "Temporal Segment Networks", ECCV 2016): ``frames`` segments over
  the whole video, one frame each, random inside its segment in training and the centre in
  evaluation (ActionCLIP, X-CLIP, ViFi-CLIP, Text4Vis).
- ``dense``: ``frames`` frames ``stride`` apart in one window, as AIM, ST-Adapter and EVL
  train ("8×16": 8 frames at stride 16): a random window in training, the centre window in
  validation, ``test_clips`` windows spread over the video in testing, with the index
  arithmetic of the reference code (``dense_convention``, see
  :class:`~vidlift.data.video.DenseSampler`).

Multi-view testing ("8×3×4": frames × crops × clips) averages the scores of ``test_clips``
temporal views × ``test_crops`` spatial crops (1 centre, or 3 along the longer side:
:meth:`~vidlift.data.transforms.VideoTransform.three_crops`). The temporal views are fixed
(``test_sampling: uniform``: shifted TSN samplings, or spread dense windows) or, as X-CLIP and
ViFi-CLIP test, independent draws of the training sampler (``test_sampling: random``), a
function of (seed, clip index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...data.clips import VideoClips
from ...data.datasets import ClassificationSample
from ...data.sources import VideoItem
from ...data.video import DenseSampler, FrameSampler, MultiViewSampler, SegmentSampler
from ...data.video.samplers import DENSE_CONVENTIONS, RandomViewsSampler

SAMPLINGS = ("tsn", "dense")
TEST_SAMPLINGS = ("uniform", "random")


class RecognitionClips(VideoClips):
    """:class:`~vidlift.data.clips.VideoClips` of labelled samples: items add ``label`` (int,
    -1 when unlabelled) and, when ``templates`` > 0, ``template`` (int in [0, templates)): the
    text template of the clip's class text in this epoch (ActionCLIP draws one per training
    clip), a function of (seed, epoch, index). ``video`` is (T, 3, S, S), or (V, T, 3, S, S)
    for multi-view testing."""

    def __init__(self, samples: Sequence[ClassificationSample], sampler: FrameSampler, transform: Any,
                 backend: str = "pyav", seed: int = 0, crops: int = 1, templates: int = 0) -> None:
        self.samples = list(samples)
        self.templates = int(templates)
        super().__init__([VideoItem(s.video_id, s.video_path) for s in self.samples], sampler, transform,
                         backend, seed, crops)

    def annotation(self, i: int, epoch: int) -> dict[str, Any]:
        label = self.samples[i].label_index
        out = {"label": -1 if label is None else int(label)}
        if self.templates:
            # stream 2: the sampler draws from (seed, epoch, i), the transform from stream 1
            out["template"] = int(np.random.default_rng((self.seed, epoch, i, 2)).integers(self.templates))
        return out


def eval_sampler(frames: int, clips: int) -> FrameSampler:
    """The TSN test-time sampler: centre frames for one clip, shifted TSN samplings for more."""
    return SegmentSampler(frames, "test") if clips == 1 else MultiViewSampler(frames, clips)


@dataclass(frozen=True)
class ClipSampling:
    """The task's sampling keys, checked, and the sampler of each split (see module doc).

    Args:
        frames: frames per clip (T).
        sampling: ``tsn`` or ``dense``.
        stride: frames between sampled frames (dense only; AIM, ST-Adapter, EVL: 16 at 8 frames).
        dense_convention: whose index arithmetic (dense only): ``mmaction2`` (>= 1.0),
            ``mmaction2-0.x`` (AIM's fork) or ``evl`` (EVL and ST-Adapter).
        test_clips: temporal views of the test and predict splits.
        test_sampling: ``uniform`` (fixed views) or ``random`` (X-CLIP / ViFi-CLIP).
    """

    frames: int
    sampling: str = "tsn"
    stride: int | None = None
    dense_convention: str = "mmaction2"
    test_clips: int = 1
    test_sampling: str = "uniform"

    def __post_init__(self) -> None:
        if not _positive_int(self.frames):
            raise ValueError(f"recognition: frames must be a positive integer, got {self.frames!r}")
        if not _positive_int(self.test_clips):
            raise ValueError(f"recognition: test_clips must be a positive integer, got {self.test_clips!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"recognition: sampling must be one of {', '.join(SAMPLINGS)}, got {self.sampling!r}")
        if self.test_sampling not in TEST_SAMPLINGS:
            raise ValueError(f"recognition: test_sampling must be one of {', '.join(TEST_SAMPLINGS)}, "
                             f"got {self.test_sampling!r}")
        if self.dense_convention not in DENSE_CONVENTIONS:
            raise ValueError(f"recognition: dense_convention must be one of {', '.join(DENSE_CONVENTIONS)}, "
                             f"got {self.dense_convention!r}")
        if self.sampling == "dense":
            if not _positive_int(self.stride):
                raise ValueError(f"recognition: sampling 'dense' needs stride, a positive integer (frames between "
                                 f"sampled frames: 16 for AIM / ST-Adapter / EVL's 8x16), got {self.stride!r}")
        elif self.stride is not None or self.dense_convention != "mmaction2":
            key = "stride" if self.stride is not None else "dense_convention"
            raise ValueError(f"recognition: {key} applies to sampling 'dense' (sampling is {self.sampling!r})")

    def _dense(self, mode: str, clips: int = 1) -> DenseSampler:
        return DenseSampler(self.frames, int(self.stride), mode, clips, convention=self.dense_convention)

    def train(self) -> FrameSampler:
        """One random clip."""
        return SegmentSampler(self.frames, "train") if self.sampling == "tsn" else self._dense("random")

    def sampler(self, split: str) -> FrameSampler:
        """The frames of ``split``: "train" one random clip, "val" one fixed centre clip, "test"
        and "predict" ``test_clips`` views (fixed, or random draws of :meth:`train`)."""
        if split == "train":
            return self.train()
        if split == "val":
            return SegmentSampler(self.frames, "test") if self.sampling == "tsn" else self._dense("center")
        if self.test_sampling == "random":
            return RandomViewsSampler(self.train(), self.test_clips)
        if self.sampling == "tsn":
            return eval_sampler(self.frames, self.test_clips)
        return self._dense("multi", self.test_clips)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


__all__ = ["RecognitionClips", "ClipSampling", "eval_sampler", "SAMPLINGS", "TEST_SAMPLINGS"]
