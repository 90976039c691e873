"""Which frames to decode: samplers that see a video's frame count, fps and duration.

A sampler is called with a :class:`~vidlift.data.video.info.VideoInfo` and an optional
``numpy.random.Generator`` and returns a :class:`FrameSample`. Samplers never decode; they
always return the number of frames asked for, so batches keep a fixed shape: on videos that
are too short, frames repeat (the last frame, or for :class:`DenseSampler` whatever its
reference code does: mmaction2 wraps around).
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


DENSE_CONVENTIONS = ("mmaction2", "mmaction2-0.x", "evl")


class DenseSampler(FrameSampler):
    """Dense clips: ``clip_len`` frames ``stride`` apart, as mmaction2's ``SampleFrames(clip_len,
    frame_interval=stride)`` samples them for AIM, and as EVL's and ST-Adapter's own loaders do.

    Modes:
        "random": one clip at a random start (training).
        "center": one clip in the middle (validation; "multi" with one clip).
        "multi": ``num_clips`` clips at fixed starts spread over the video (testing); the
            indices are concatenated clip after clip, shape (num_clips * clip_len,), and
            ``FrameSample.num_clips`` tells how to reshape.

    ``convention`` picks whose arithmetic the starts and the out-of-range frames follow, so
    that a recipe sees exactly the indices of the code its paper was run with. With N frames,
    T = clip_len, s = stride, K = num_clips and ``span = (T - 1) * s + 1``:

    - ``"mmaction2"`` (mmaction2 >= 1.0, ``mmaction/datasets/transforms/loading.py``,
      ``SampleFrames``). Training window ``T * s`` frames (``_get_train_clips`` uses
      ``clip_len * frame_interval``): start uniform in ``[0, N - T*s]``, 0 when the video is
      shorter. Testing (``_get_test_clips``): ``max_offset = max(N - span, 0)``; one clip
      starts at ``max_offset // 2``, K > 1 clips at ``round(k * max_offset / (K - 1))`` (numpy's
      round half to even): the first at the start, the last at the end. Frames past the end
      wrap around (``out_of_bound_opt="loop"``, the default every recipe keeps: index mod N).
    - ``"mmaction2-0.x"`` (the mmaction2 0.x fork AIM trains and tests with,
      taoyang1122/adapt-image-models ``mmaction/datasets/pipelines/loading.py``). Training as
      above. Testing with window ``T * s``: ``avg = (N - T*s + 1) / K`` and clip k starts at
      ``int(k * avg + avg / 2)`` (the centres of K equal parts), all at 0 when ``N < T*s``.
      Frames past the end wrap around.
    - ``"evl"`` (EVL, OpenGVLab/efficient-video-recognition, and ST-Adapter,
      linziyi96/st-adapter: the same ``video_dataset/dataset.py``). Training
      (``_random_sample_frame_idx``): start uniform in ``[0, N - span]``; when ``span >= N``,
      frames ``0, s, 2s, ...`` with those past the end repeating the last one inside.
      Testing (``_generate_temporal_crops``): the starts of mmaction2 >= 1.0; the video is
      padded with its last frame, so frames past the end are frame N - 1.

    Deterministic except "random", which draws from ``rng``.
    """

    def __init__(
        self,
        clip_len: int,
        stride: int = 1,
        mode: Literal["random", "center", "multi"] = "center",
        num_clips: int = 1,
        convention: str = "mmaction2",
    ):
        if clip_len < 1 or stride < 1 or num_clips < 1:
            raise ValueError(f"clip_len, stride, num_clips must be >= 1, got {clip_len}, {stride}, {num_clips}")
        if mode not in ("random", "center", "multi"):
            raise ValueError(f"mode must be 'random', 'center' or 'multi', got {mode!r}")
        if mode != "multi" and num_clips != 1:
            raise ValueError(f"num_clips={num_clips} needs mode='multi'")
        if convention not in DENSE_CONVENTIONS:
            raise ValueError(f"convention must be one of {', '.join(DENSE_CONVENTIONS)}, got {convention!r}")
        self.clip_len, self.stride, self.mode, self.num_clips = clip_len, stride, mode, num_clips
        self.convention = convention

    @property
    def span(self) -> int:
        """Frames from a clip's first sampled frame to its last, both included."""
        return (self.clip_len - 1) * self.stride + 1

    def starts(self, num_frames: int, rng: RngLike = None) -> np.ndarray:
        """int64 (clips,): the first frame of each clip in a video of ``num_frames`` frames."""
        n, window = num_frames, self.clip_len * self.stride
        if self.mode == "random":
            room = n - (self.span if self.convention == "evl" else window) + 1
            return np.random.default_rng(rng).integers(0, max(room, 1), size=1)
        k = 1 if self.mode == "center" else self.num_clips
        if self.convention == "mmaction2-0.x":
            if n < window:
                return np.zeros(k, dtype=np.int64)
            avg = (n - window + 1) / float(k)
            return (np.arange(k) * avg + avg / 2.0).astype(np.int64)
        max_offset = max(n - self.span, 0)
        if k == 1:
            return np.array([max_offset // 2])
        return np.round(np.arange(k) * (max_offset / float(k - 1))).astype(np.int64)

    def __call__(self, info: VideoInfo, rng: RngLike = None) -> FrameSample:
        _check_info(info)
        n = info.num_frames
        clips = self.starts(n, rng).astype(np.int64)[:, None] + np.arange(self.clip_len) * self.stride
        if self.convention != "evl":
            clips = clips % n  # mmaction2's "loop"
        elif self.mode == "random":  # the last frame inside the video repeats
            inside = np.where(clips < n, clips, -1)
            clips = np.where(clips < n, clips, np.maximum.accumulate(inside, axis=1))
        else:  # padded with the last frame
            clips = np.minimum(clips, n - 1)
        return _frames(clips.reshape(-1), info, num_clips=clips.shape[0])

    def __repr__(self) -> str:
        return (
            f"DenseSampler(clip_len={self.clip_len}, stride={self.stride}, "
            f"mode={self.mode!r}, num_clips={self.num_clips}, convention={self.convention!r})"
        )


class RandomViewsSampler(FrameSampler):
    """``num_clips`` independent draws of a random ``sampler``, concatenated clip after clip:
    X-CLIP's and ViFi-CLIP's multi-view testing, which samples each test view with the training
    sampler (``SampleFrames(..., multiview=K)`` without ``test_mode`` in
    microsoft/VideoX ``X-CLIP/datasets/build.py``, and the same line in ViFi-CLIP's
    ``datasets/build.py``). The draws come one after the other from the one ``rng``, so the
    views are a function of what seeded it (the item's seed and index)."""

    def __init__(self, sampler: FrameSampler, num_clips: int) -> None:
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self.sampler, self.num_clips = sampler, num_clips

    def __call__(self, info: VideoInfo, rng: RngLike = None) -> FrameSample:
        rng = np.random.default_rng(rng)
        draws = [self.sampler(info, rng) for _ in range(self.num_clips)]
        if any(d.num_clips != 1 for d in draws):
            raise ValueError(f"RandomViewsSampler repeats a one-clip sampler, got {self.sampler!r}")
        return FrameSample(np.concatenate([d.indices for d in draws]), np.concatenate([d.timestamps for d in draws]),
                           self.num_clips)

    def __repr__(self) -> str:
        return f"RandomViewsSampler({self.sampler!r}, num_clips={self.num_clips})"


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
