"""Probing a video file: frame count, frame rate, duration, size, codec."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction

import av

from .errors import VideoDecodeError


@dataclass(frozen=True)
class VideoInfo:
    """What a sampler needs to know about a video.

    Attributes:
        path: the file.
        num_frames: number of frames. Read from the container when it records it (MP4,
            AVI), else estimated from the first and last frame timestamps and the frame
            rate (see ``frames_estimated``); decoders clamp indices past the real end, so an
            estimate that is a little high is harmless.
        fps: average frame rate, frames per second.
        duration: seconds.
        width, height: frame size in pixels (as decoded, before any rotation metadata).
        codec: FFmpeg codec name, e.g. ``"h264"``.
        frames_estimated: True when ``num_frames`` is an estimate rather than a stored count.
    """

    path: str
    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    codec: str
    frames_estimated: bool = False


def check_file(path: str) -> None:
    """Raise :class:`VideoDecodeError` for a missing, directory or empty ``path``."""
    # Checked up front because FFmpeg reports these as a generic "invalid data" error,
    # and some decoders crash on empty files instead of raising.
    if not os.path.exists(path):
        raise VideoDecodeError(path, "no such file")
    if os.path.isdir(path):
        raise VideoDecodeError(path, "is a directory")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "file is empty (0 bytes)")


def open_video(path: str | os.PathLike) -> tuple[av.container.InputContainer, av.VideoStream]:
    """Open ``path`` with PyAV and return (container, first video stream).

    Raises:
        VideoDecodeError: missing or empty file, unreadable container, no video stream.
    """
    path = os.fspath(path)
    check_file(path)
    try:
        container = av.open(path, metadata_errors="ignore")
    except av.FFmpegError as e:
        raise VideoDecodeError(path, f"not a readable media container ({e})") from e
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoDecodeError(path, f"no video stream (streams found: {', '.join(kinds)})")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None or not ctx.width or not ctx.height:
        container.close()
        raise VideoDecodeError(path, "video stream has no decoder or no frame size (truncated or corrupt header?)")
    return container, stream


def stream_fps(stream: av.VideoStream) -> Fraction | None:
    """The stream's average frame rate as an exact fraction, or None when unknown."""
    # average_rate is the true mean over the file; guessed/base rates are fallbacks that
    # FFmpeg derives from codec headers when the container does not record it.
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0 and math.isfinite(float(rate)):
            return Fraction(rate)
    return None


_HEAD_PACKETS = 32  # well past the reorder depth of any codec's first GOP


def first_frame_pts(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    """Presentation timestamp of the first frame, read from the first packets (no decoding).

    ``stream.start_time`` is not always it: AVI reports the first *decode* time, which is a
    frame earlier than the first presentation time when the stream has B-frames. Packets come
    in decode order, so the first frame shown is the smallest pts among the first packets.
    Leaves the container positioned after those packets: seek or reopen before decoding.
    """
    best = None
    for i, packet in enumerate(container.demux(stream)):
        if i >= _HEAD_PACKETS:
            break
        # Packets an edit list cuts from the start are flagged discard: never shown.
        if packet.pts is None or packet.is_discard or not packet.size:
            continue
        best = packet.pts if best is None else min(best, packet.pts)
    return best


def keyframe_indices(stream: av.VideoStream, start_pts: int | None = None) -> list[int]:
    """Sorted approximate frame indices of the keyframes the container indexes (MP4, MKV
    cues, AVI idx1); empty when it indexes none (MPEG-TS).

    Index timestamps are decode times, a few frames earlier than presentation times when
    the stream has B-frames: good enough to decide whether a seek can skip frames.
    """
    fps = stream_fps(stream)
    if fps is None:
        return []
    start = start_pts if start_pts is not None else (stream.start_time or 0)
    frames_per_tick = float(fps * stream.time_base)
    return sorted(round((e.timestamp - start) * frames_per_tick) for e in stream.index_entries if e.is_keyframe)


def _frames_from_timestamps(container, stream, fps: Fraction) -> int | None:
    """Frame count from the first and last presentation timestamps, for containers with no count.

    Seeks to the last keyframe and demuxes to the end (a GOP of packets, no decoding):
    cheap even for long files, and exact for constant frame rate.
    """
    first = first_frame_pts(container, stream)
    if first is None or not container.duration:
        return None
    container.seek((container.start_time or 0) + container.duration, backward=True)
    last = max((p.pts for p in container.demux(stream) if p.pts is not None and p.size), default=None)
    if last is None or last < first:
        return None
    return round((last - first) * stream.time_base * fps) + 1


def _count_frames_by_demuxing(path: str) -> int:
    container, stream = open_video(path)
    try:
        # One packet per frame for video; demuxing reads without decoding.
        return sum(1 for packet in container.demux(stream) if packet.size)
    finally:
        container.close()


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's frame count, frame rate, duration, size and codec.

    Uses PyAV on the container headers. When the container stores no frame count (WebM,
    Matroska, MPEG-TS report 0), the count comes from the first and last packet timestamps
    (a seek to the last keyframe, no decoding); failing that, from counting packets.

    Raises:
        VideoDecodeError: the file cannot be read as a video.
    """
    path = os.fspath(path)
    container, stream = open_video(path)
    try:
        fps = stream_fps(stream)
        estimated = False
        num_frames = int(stream.frames or 0)
        if num_frames <= 0 and fps is not None:
            estimated = True
            num_frames = _frames_from_timestamps(container, stream, fps) or 0
        if num_frames <= 0:
            num_frames, estimated = _count_frames_by_demuxing(path), False
        if num_frames <= 0:
            raise VideoDecodeError(path, "video stream contains no frames")
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif fps is not None:
            duration = num_frames / float(fps)
        elif container.duration:
            duration = container.duration / av.time_base  # microseconds, all streams
        else:
            raise VideoDecodeError(path, "frame rate and duration are both unknown")
        if fps is None:
            fps = Fraction(num_frames) / Fraction(duration)
        return VideoInfo(
            path=path,
            num_frames=num_frames,
            fps=float(fps),
            duration=duration,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            codec=stream.codec_context.name,
            frames_estimated=estimated,
        )
    except av.FFmpegError as e:
        raise VideoDecodeError(path, f"cannot read stream headers ({e})") from e
    finally:
        container.close()
