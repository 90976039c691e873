"""Whole videos for grounding: one frame per clip unit, one item per query, padded batches.

An item is one :class:`~vidlift.data.datasets.GroundingQuery` with the frames of its whole
video, one per ``clip_length``-second clip unit (QVHighlights' 2 s), taken at the middle of
each unit (:class:`ClipUnitSampler`), so frame k stands for seconds ``[k·c, (k+1)·c)``. Any
length: a 150 s QVHighlights video is 75 frames, a 20-minute one 600. :func:`collate_grounding`
pads a batch to the longest video, rounded up to a multiple of the model's window so that it
can be encoded in windows, by repeating each video's last frame, and adds ``clip_mask``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...data.clips import VideoClips, collate_clips
from ...data.datasets import GroundingQuery
from ...data.sources import VideoItem
from ...data.video import FrameSample, FrameSampler, VideoInfo

# Share of a clip unit a video may run past its last full unit without adding one (150.02 s is
# 75 units of 2 s, as the annotation says, not 76).
_TAIL_TOLERANCE = 0.05
# Item keys whose length differs from video to video: padded (video) or kept per item.
_VARIABLE = ("video", "frame_indices", "timestamps")


def num_clip_units(duration: float, clip_length: float) -> int:
    """Clip units of a ``duration``-second video: ceil(duration / clip_length), ignoring a tail
    shorter than 5 % of a unit; at least 1."""
    return max(1, math.ceil(duration / clip_length - _TAIL_TOLERANCE))


class ClipUnitSampler(FrameSampler):
    """One frame per ``clip_length``-second unit, at its middle ((k + 0.5)·c seconds, the frame
    on screen then, clamped to the last frame); deterministic."""

    def __init__(self, clip_length: float = 2.0) -> None:
        if not clip_length > 0:
            raise ValueError(f"clip_length must be > 0, got {clip_length}")
        self.clip_length = float(clip_length)

    def __call__(self, info: VideoInfo, rng: Any = None) -> FrameSample:
        if info.num_frames < 1 or not info.fps > 0:
            raise ValueError(f"cannot sample from {info.path!r}: {info.num_frames} frames at {info.fps} fps")
        duration = info.duration if info.duration > 0 else info.num_frames / info.fps
        times = (np.arange(num_clip_units(duration, self.clip_length)) + 0.5) * self.clip_length
        indices = np.clip(np.floor(times * info.fps + 1e-6), 0, info.num_frames - 1).astype(np.int64)
        return FrameSample(indices, times)

    def __repr__(self) -> str:
        return f"ClipUnitSampler(clip_length={self.clip_length})"


class GroundingClips(VideoClips):
    """:class:`~vidlift.data.clips.VideoClips` of grounding queries (module docstring).

    Items add ``qid``, ``query``, ``annotated_duration`` (seconds, the annotation's; the decoded
    ``duration`` is the file's), ``windows`` (list of [start, end] seconds; in training at
    most ``max_windows``, drawn from (seed, epoch, index) when there are more, as Moment-DETR
    keeps a random 5), ``relevant_clip_ids`` and ``saliency_scores`` (lists, as annotated).
    """

    def __init__(self, records: Sequence[GroundingQuery], clip_length: float, transform: Any,
                 backend: str = "pyav", seed: int = 0, train: bool = False, max_windows: int | None = 5) -> None:
        self.records = list(records)
        videos = [VideoItem(r.video_id, r.video_path) for r in self.records]
        super().__init__(videos, ClipUnitSampler(clip_length), transform, backend, seed)
        self.train, self.max_windows = train, max_windows

    def annotation(self, i: int, epoch: int) -> dict[str, Any]:
        r = self.records[i]
        windows = [[float(s), float(e)] for s, e in r.relevant_windows]
        if self.train and self.max_windows is not None and len(windows) > self.max_windows:
            keep = np.random.default_rng((self.seed, epoch, i, 2)).permutation(len(windows))[: self.max_windows]
            windows = [windows[k] for k in keep]
        return {"qid": r.qid, "query": r.query, "annotated_duration": float(r.duration), "windows": windows,
                "relevant_clip_ids": [int(c) for c in r.relevant_clip_ids],
                "saliency_scores": [[float(s) for s in row] for row in r.saliency_scores]}


def pad_videos(videos: Sequence[torch.Tensor], multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Videos (N_b, 3, S, S) of different lengths -> (B, P, 3, S, S) and clip_mask (B, P), P the
    longest N_b rounded up to ``multiple``; each video continues with copies of its last frame
    (so a window that runs past a video's end sees a still frame, not black)."""
    longest = max(v.shape[0] for v in videos)
    p = -(-longest // multiple) * multiple
    out = torch.stack([torch.cat([v, v[-1:].expand(p - v.shape[0], *v.shape[1:])]) for v in videos])
    mask = torch.arange(p)[None] < torch.tensor([v.shape[0] for v in videos])[:, None]
    return out, mask


def collate_grounding(samples: list[dict[str, Any]], multiple: int = 1) -> dict[str, Any] | None:
    """Items -> a batch: ``video`` (B, P, 3, S, S) and ``clip_mask`` (B, P) from
    :func:`pad_videos`, ``num_clips`` (B,), ``timestamps`` a list of (N_b,) tensors, the rest
    as :func:`~vidlift.data.clips.collate_clips` (which drops and reports videos that fail to
    decode; ``None`` when none is left)."""
    batch = collate_clips([{k: v for k, v in s.items() if k not in _VARIABLE} for s in samples])
    if batch is None:
        return None
    good = [s for s in samples if "error" not in s]
    batch["video"], batch["clip_mask"] = pad_videos([s["video"] for s in good], multiple)
    batch["num_clips"] = torch.tensor([s["video"].shape[0] for s in good], dtype=torch.long)
    batch["timestamps"] = [s["timestamps"] for s in good]
    return batch


__all__ = ["ClipUnitSampler", "GroundingClips", "collate_grounding", "num_clip_units", "pad_videos"]
