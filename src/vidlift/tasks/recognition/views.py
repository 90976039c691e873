"""Clips for recognition, with the multi-view testing of the literature ("8×3×4": frames ×
crops × clips, e.g. Text4Vis, BIKE, X-CLIP).

- **clips**: ``n`` temporally shifted TSN samplings. Each of the T segments of the video
  gives one frame per clip, clip ``k`` taking the frame at ``(k + 0.5) / n`` of the segment
  (:class:`MultiViewSampler`); ``n = 1`` is the centre frame, i.e. ``SegmentSampler(T, "test")``.
- **crops**: 1 (centre) or 3: after the usual resize (shorter side to the transform's
  ``resize_size``), three ``size``×``size`` crops along the longer side — left/centre/right
  for landscape (and square) frames, top/centre/bottom for portrait ones — the "3-crop"
  test of mmaction2's ``ThreeCrop`` (Feichtenhofer et al., SlowFast, ICCV 2019).

A multi-view item's ``video`` is (V, T, 3, S, S) with V = clips × crops, clip-major
(view ``k * crops + j`` is clip k, crop j); a single-view item's is (T, 3, S, S).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...data.datasets import ClassificationSample
from ...data.transforms import VideoTransform, center_crop, normalize, resize_shorter, resize_square, to_float_video
from ...data.video import FrameSample, FrameSampler, SegmentSampler, VideoDecodeError, VideoInfo, read_video
from ...data.video.samplers import RngLike
from ..base import VideoClips

CROPS = (1, 3)


class MultiViewSampler(FrameSampler):
    """``num_clips`` TSN samplings of ``num_segments`` frames each, shifted inside the
    segments: clip k takes frame ``floor(s * L + (k + 0.5) / num_clips * L)`` of segment s
    (segment length L = frames / num_segments). Deterministic; indices clip after clip."""

    def __init__(self, num_segments: int, num_clips: int = 1) -> None:
        if num_segments < 1 or num_clips < 1:
            raise ValueError(f"num_segments and num_clips must be >= 1, got {num_segments}, {num_clips}")
        self.num_segments, self.num_clips = num_segments, num_clips

    def __call__(self, info: VideoInfo, rng: RngLike = None) -> FrameSample:
        if info.num_frames < 1 or not info.fps > 0:
            raise ValueError(f"cannot sample from {info.path!r}: {info.num_frames} frames at {info.fps} fps")
        seg = info.num_frames / self.num_segments
        starts = np.arange(self.num_segments) * seg
        shifts = (np.arange(self.num_clips) + 0.5) / self.num_clips * seg
        idx = np.floor(starts[None, :] + shifts[:, None]).reshape(-1)
        idx = np.clip(idx, 0, info.num_frames - 1).astype(np.int64)
        return FrameSample(idx, idx / float(info.fps), self.num_clips)

    def __repr__(self) -> str:
        return f"MultiViewSampler(num_segments={self.num_segments}, num_clips={self.num_clips})"


def _resized(transform: VideoTransform, frames: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, h, w) in [0, 255], resized as ``transform`` does
    before its crop."""
    video = to_float_video(frames)
    if transform.resize_mode == "shortest":
        video = resize_shorter(video, transform.resize_size, transform.interpolation, transform.antialias)
    else:
        video = resize_square(video, transform.resize_size, transform.interpolation, transform.antialias)
    return video.clamp_(0, 255).round_()


def three_crops(transform: VideoTransform, frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (N, H, W, 3) -> (3, N, 3, S, S): start / centre / end crops along the
    longer side after ``transform``'s resize; the centre crop equals ``transform(frames)``
    for a test-mode transform."""
    for attr in ("size", "resize_size", "resize_mode", "interpolation", "antialias", "mean", "std"):
        if not hasattr(transform, attr):
            raise TypeError(f"3-crop testing needs a VideoTransform (resize, then crop), "
                            f"got {type(transform).__name__}")
    video = _resized(transform, frames)
    s = transform.size
    h, w = video.shape[-2:]
    if s > h or s > w:
        raise ValueError(f"crop {s}x{s} is larger than the resized frames ({h}x{w})")
    top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
    if h > w:
        corners = [(0, left), (top, left), (h - s, left)]
    else:
        corners = [(top, 0), (top, left), (top, w - s)]
    crops = [center_crop(video, s) if (y, x) == (top, left) else video[..., y : y + s, x : x + s] for y, x in corners]
    return torch.stack([normalize(c.div(255.0), transform.mean, transform.std).contiguous() for c in crops])


class RecognitionClips(VideoClips):
    """Labelled clips of a recognition split.

    Item ``i`` (or key ``(epoch, i)``, as the engine's sampler gives it) is
    ``{"index": i, "video": (T, 3, S, S) or (V, T, 3, S, S), "label": int (-1 when unlabelled),
    "video_id": str}``, or ``{"index": i, "error": msg}`` when the video does not decode
    (dropped by :func:`~vidlift.tasks.base.collate_clips`). Frame and crop randomness (train
    mode) is a function of (seed, epoch, i).
    """

    def __init__(self, samples: Sequence[ClassificationSample], sampler: FrameSampler, transform: Any,
                 backend: str = "pyav", seed: int = 0, crops: int = 1) -> None:
        if crops not in CROPS:
            raise ValueError(f"crops must be one of {CROPS}, got {crops!r}")
        super().__init__([s.video_path for s in samples], sampler, transform, backend, seed)
        self.samples = list(samples)
        self.crops = crops

    @property
    def views(self) -> int:
        return getattr(self.sampler, "num_clips", 1) * self.crops

    def _transform(self, frames: torch.Tensor, epoch: int, i: int) -> torch.Tensor:
        if isinstance(self.transform, VideoTransform):
            seed = int(np.random.SeedSequence((self.seed, epoch, i, 1)).generate_state(1, np.uint64)[0] >> 1)
            return self.transform(frames, generator=torch.Generator().manual_seed(seed))
        return self.transform(frames)

    def item(self, i: int, epoch: int) -> dict[str, Any]:
        s = self.samples[i]
        head = {"index": i}
        if s.video_path is None:
            return {**head, "error": f"{s.video_id}: no video file for this entry"}
        rng = np.random.default_rng((self.seed, epoch, i))
        try:
            decoded = read_video(s.video_path, self.sampler, backend=self.backend, rng=rng)
        except (VideoDecodeError, ValueError, FileNotFoundError, OSError) as e:
            return {**head, "error": f"{s.video_path}: {type(e).__name__}: {e}"}
        clips = decoded.num_clips
        if clips == 1 and self.crops == 1:
            video = self._transform(decoded.frames, epoch, i)
        else:
            frames = decoded.frames
            if self.crops == 1:
                video = self._transform(frames, epoch, i)[None]  # (1, N, 3, S, S)
            else:
                video = three_crops(self.transform, frames)  # (3, N, 3, S, S)
            t = frames.shape[0] // clips
            video = video.unflatten(1, (clips, t)).transpose(0, 1).flatten(0, 1)  # (clips·crops, T, 3, S, S)
        label = -1 if s.label_index is None else int(s.label_index)
        return {**head, "video": video, "label": label, "video_id": s.video_id}

    def clip(self, i: int) -> dict[str, Any]:
        return self.item(i, self.epoch)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(key, tuple):
            epoch, i = key
            return self.item(int(i), int(epoch))
        return self.item(int(key), self.epoch)


def eval_sampler(frames: int, clips: int) -> FrameSampler:
    """The test-time sampler: centre frames for one clip, shifted TSN samplings for more."""
    return SegmentSampler(frames, "test") if clips == 1 else MultiViewSampler(frames, clips)


__all__ = ["MultiViewSampler", "RecognitionClips", "three_crops", "eval_sampler", "CROPS"]
