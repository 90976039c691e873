"""Which frames to decode: samplers that see a video's frame count, fps and duration.

A sampler is called with a :class:`~vidlift.data.video.info.VideoInfo` and an optional
``numpy.random.Generator`` and returns a :class:`FrameSample`. Samplers never decode; they
always return the number of frames asked for, repeating (clamping to) the last frame on
videos that are too short, so batches keep a fixed shape.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .info import VideoInfo

RngLike = np.random.Generator | int | None


@dataclass(frozen=True)
class FrameSample:
    """Frames chosen by a sampler.

    Attributes:
        indices: int64 (N,), frame indices in ``[0, num_frames)``, in clip order.
        timestamps: float64 (N,), seconds from the start of the video. ``index / fps`` for
            frame-based samplers; the exact grid times ``k / fps`` for :class:`FpsSampler`.
        num_clips: the samples form ``num_clips`` clips of ``N // num_clips`` frames, laid
            out clip after clip (reshape frames to (num_clips, clip_len, ...)).
    """

    indices: np.ndarray
    timestamps: np.ndarray
    num_clips: int = 1

    def __len__(self) -> int:
        return int(self.indices.shape[0])


class FrameSampler(ABC):
    """Base class: ``sampler(info, rng=None) -> FrameSample``."""

    @abstractmethod
    def __call__(self, info: VideoInfo, rng: RngLike = None) -> FrameSample: ...


def _frames(indices: np.ndarray, info: VideoInfo, num_clips: int = 1) -> FrameSample:
    indices = np.clip(indices, 0, info.num_frames - 1).astype(np.int64)
    return FrameSample(indices, indices / float(info.fps), num_clips)


def _check_info(info: VideoInfo) -> None:
    if info.num_frames < 1 or not info.fps > 0:
        raise ValueError(f"cannot sample from {info.path!r}: {info.num_frames} frames at {info.fps} fps")


class SegmentSampler(FrameSampler):
    """TSN sampling: split the video into ``num_segments`` equal segments, one frame each.

    ``mode="train"`` takes a uniformly random frame inside each segment, ``mode="test"`` the
    centre frame (deterministic). With fewer frames than segments, neighbouring segments
    share frames, so indices repeat but stay in temporal order.

    Returns ``num_segments`` indices.
    """

    def __init__(self, num_segments: int, mode: Literal["train", "test"] = "test"):
        if num_segments < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        self.num_segments = num_segments
        self.mode = mode

    def __call__(self, info: VideoInfo, rng: RngLike = None) -> FrameSample:
        _check_info(info)
        seg_len = info.num_frames / self.num_segments
        starts = np.arange(self.num_segments) * seg_len
        if self.mode == "train":
            offsets = np.random.default_rng(rng).random(self.num_segments) * seg_len
        else:
            offsets = np.full(self.num_segments, seg_len / 2)
        return _frames(np.floor(starts + offsets), info)

    def __repr__(self) -> str:
        return f"SegmentSampler(num_segments={self.num_segments}, mode={self.mode!r})"


class MultiViewSampler(FrameSampler):
    """``num_clips`` TSN samplings of ``num_segments`` frames each, shifted inside the
    segments, for multi-view testing ("8×3×4": frames × crops × clips, e.g. Text4Vis, BIKE,
    X-CLIP): clip k takes frame ``floor(s * L + (k + 0.5) / num_clips * L)`` of segment s
    (segment length L = frames / num_segments). Deterministic; indices clip after clip
    (``FrameSample.num_clips`` = ``num_clips``). One clip is ``SegmentSampler(T, "test")``.
    """

    def __init__(self, num_segments: int, num_clips: int = 1) -> None:
        if num_segments < 1 or num_clips < 1:
            raise ValueError(f"num_segments and num_clips must be >= 1, got {num_segments}, {num_clips}")
        self.num_segments, self.num_clips = num_segments, num_clips

    def __call__(self, info: VideoInfo, rng: RngLike = None) -> FrameSample:
        _check_info(info)
        seg = info.num_frames / self.num_segments
        starts = np.arange(self.num_segments) * seg
        shifts = (np.arange(self.num_clips) + 0.5) / self.num_clips * seg
        return _frames(np.floor(starts[None, :] + shifts[:, None]).reshape(-1), info, self.num_clips)

    def __repr__(self) -> str:
        return f"MultiViewSampler(num_segments={self.num_segments}, num_clips={self.num_clips})"


class DenseSampler(FrameSampler):
    """Dense clips: ``clip_len`` frames ``stride`` apart (a clip spans ``(clip_len-1)*stride+1`` frames).

    Modes:
        "random": one clip at a uniformly random start (training).
        "center": one clip in the middle of the video.
        "multi": ``num_clips`` clips whose starts are evenly spaced over the video (the
            centres of ``num_clips`` equal parts of the possible start range); the
            indices are concatenated clip after clip, shape (num_clips * clip_len,), and
            ``FrameSample.num_clips`` tells how to reshape.

    Frames past the end of a short video repeat its last frame.
    """

    def __init__(
        self,
        clip_len: int,
        stride: int = 1,
        mode: Literal["random", "center", "multi"] = "center",
        num_clips: int = 1,
    ):
        if clip_len < 1 or stride < 1 or num_clips < 1:
            raise ValueError(f"clip_len, stride, num_clips must be >= 1, got {clip_len}, {stride}, {num_clips}")
        if mode not in ("random", "center", "multi"):
            raise ValueError(f"mode must be 'random', 'center' or 'multi', got {mode!r}")
        if mode != "multi" and num_clips != 1:
            raise ValueError(f"num_clips={num_clips} needs mode='multi'")
        self.clip_len, self.stride, self.mode, self.num_clips = clip_len, stride, mode, num_clips

    @property
    def span(self) -> int:
        return (self.clip_len - 1) * self.stride + 1

    def __call__(self, info: VideoInfo, rng: RngLike = None) -> FrameSample:
        _check_info(info)
        max_start = max(info.num_frames - self.span, 0)
        if self.mode == "random":
            starts = np.random.default_rng(rng).integers(0, max_start + 1, size=1)
        elif self.mode == "center":
            starts = np.array([max_start // 2])
        else:
            starts = np.floor((np.arange(self.num_clips) + 0.5) * (max_start + 1) / self.num_clips)
        offsets = np.arange(self.clip_len) * self.stride
        indices = (starts.astype(np.int64)[:, None] + offsets[None, :]).reshape(-1)
        return _frames(indices, info, num_clips=len(starts))

    def __repr__(self) -> str:
        return (
            f"DenseSampler(clip_len={self.clip_len}, stride={self.stride}, "
            f"mode={self.mode!r}, num_clips={self.num_clips})"
        )


class FpsSampler(FrameSampler):
    """Frames at fixed times ``k / fps`` seconds, k = 0, 1, ... while before the video's end.

    For grounding features, where clip ``k`` must mean seconds ``[k/fps, (k+1)/fps)``: each
    timestamp takes the frame on screen at that time, ``floor(t * video_fps)``. The returned
    timestamps are the grid times themselves. ``max_frames`` keeps only the first
    ``max_frames`` grid points (the tail is dropped, the grid is never stretched).
    Deterministic; ``rng`` is accepted for a uniform interface.
    """

    def __init__(self, fps: float, max_frames: int | None = None):
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        self.fps, self.max_frames = float(fps), max_frames

    def __call__(self, info: VideoInfo, rng: RngLike = None) -> FrameSample:
        _check_info(info)
        duration = info.duration if info.duration > 0 else info.num_frames / info.fps
        # The epsilon keeps float error from adding a grid point exactly at the end
        # (10 s at 2 fps is 20 points, not 21).
        count = max(1, math.ceil(duration * self.fps - 1e-6))
        if self.max_frames is not None:
            count = min(count, self.max_frames)
        times = np.arange(count) / self.fps
        indices = np.floor(times * info.fps + 1e-6)
        indices = np.clip(indices, 0, info.num_frames - 1).astype(np.int64)
        return FrameSample(indices, times)

    def __repr__(self) -> str:
        return f"FpsSampler(fps={self.fps}, max_frames={self.max_frames})"
