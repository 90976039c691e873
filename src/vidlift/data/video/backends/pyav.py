"""PyAV backend: the default (PyAV wheels ship their own FFmpeg)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from ..errors import VideoDecodeError
from ..info import first_frame_pts, keyframe_indices, open_video, stream_fps
from .base import Strategy, VideoBackend, should_seek


class PyAVBackend(VideoBackend):
    """Decode with PyAV, sequentially or by seeking, as chosen per gap by ``should_seek``.

    Frame index ``i`` is the frame whose presentation time is ``i / fps`` after the first
    frame's: ``i = round((pts - first_pts) * time_base * fps)``. Sequential decoding and
    seeking use this same mapping, so both return the same frame for an index.
    """

    name = "pyav"
    module = "av"
    pip_package = "av"
    supports_strategy = True

    def __init__(self, thread_type: str = "AUTO"):
        self.thread_type = thread_type

    def read_frames(self, path: str, indices: np.ndarray, *, strategy: Strategy, seek_threshold: int) -> np.ndarray:
        run = _DecodeRun(path, indices, strategy, seek_threshold, self.thread_type)
        try:
            return run.run()
        except av.FFmpegError as e:
            raise VideoDecodeError(path, f"decoding failed near frame {run.pos + 1} ({e})") from e
        finally:
            run.close()


class _DecodeRun:
    """State of one read: open container, decoder position, frames collected so far."""

    def __init__(self, path, wanted, strategy, seek_threshold, thread_type):
        self.path = path
        self.wanted = [int(i) for i in wanted]
        self.strategy = strategy
        self.seek_threshold = seek_threshold
        self.thread_type = thread_type
        self.out: list[np.ndarray | None] = [None] * len(self.wanted)
        self.j = 0  # next position in `wanted` to fill
        self.pos = -1  # index of the last decoded frame
        self.container = None
        self._converted = (None, None)
        # pts of frame 0: taken from the first decoded frame, or from the first packets
        # when the first move is a seek. Kept across reopening.
        self.start_pts: int | None = None

    def _open(self) -> None:
        if self.container is not None:
            self.container.close()
        self.container, self.stream = open_video(self.path)
        self.stream.thread_type = self.thread_type
        fps = stream_fps(self.stream)
        if fps is None:
            raise VideoDecodeError(self.path, "unknown frame rate, cannot map frame indices")
        self.time_base = Fraction(self.stream.time_base)
        self.frames_per_tick = fps * self.time_base
        self.ticks_per_frame_f = float(1 / self.frames_per_tick)
        self.frames_per_tick_f = float(self.frames_per_tick)
        self._keyframes: list[int] | None = None
        self.pos = -1

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def keyframes(self) -> list[int]:
        if self._keyframes is None:
            self._keyframes = keyframe_indices(self.stream, self.start_pts)
        return self._keyframes

    def _seek_candidate(self, target: int) -> bool:
        return self.strategy == "auto" and target - self.pos - 1 > self.seek_threshold

    def index_of(self, frame) -> int:
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:  # no timestamps at all: count frames
            return self.pos + 1
        if self.start_pts is None:  # first frame of a decode from the start
            self.start_pts = pts
        return round((pts - self.start_pts) * self.frames_per_tick_f)

    def _restart(self) -> None:
        """Decode again from the first frame of the stream."""
        self._open()
        self._new_frames(seek_to=None)

    def _new_frames(self, seek_to: int | None) -> None:
        if seek_to is not None:
            if self.start_pts is None:
                first = first_frame_pts(self.container, self.stream)
                self.start_pts = first if first is not None else (self.stream.start_time or 0)
            pts = self.start_pts + round(seek_to * self.ticks_per_frame_f)
            self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        self.frames = iter(self.container.decode(self.stream))
        self.at_start = seek_to is None  # nothing exists before the first frame it yields
        self.prev = None  # last frame this iterator yielded

    def _fill(self, frame) -> None:
        # The same frame fills several indices when they clamp or repeat: convert it once.
        if frame is not self._converted[0]:
            self._converted = (frame, frame.to_ndarray(format="rgb24"))
        self.out[self.j] = self._converted[1]
        self.j += 1

    def run(self) -> np.ndarray:
        self._open()
        self.frames = None
        sequential_only = False  # set after a seek misbehaved; never seek again
        while self.j < len(self.wanted):
            target = self.wanted[self.j]
            seek = not sequential_only and should_seek(
                self.pos,
                target,
                strategy=self.strategy,
                seek_threshold=self.seek_threshold,
                # Reading the index costs a Python object per packet: only when a seek is
                # a candidate at all (a gap within the threshold never seeks).
                keyframes=self.keyframes() if self._seek_candidate(target) else None,
            )
            if seek:
                self._new_frames(seek_to=target)
            elif self.frames is None:
                self._new_frames(seek_to=None)
            status = self._decode_until_filled(target)
            if status == "filled":
                continue
            if status == "overshot" or (self.prev is None and not self.at_start):
                # The seek landed after `target` (bad index) or decoded nothing (seek past a
                # broken tail): decode from the beginning instead.
                sequential_only = True
                self._restart()
                continue
            # End of stream: every remaining index clamps to the last decodable frame.
            if self.prev is None:
                raise VideoDecodeError(self.path, "no decodable video frames")
            while self.j < len(self.wanted):
                self._fill(self.prev)
        return np.stack(self.out)

    def _decode_until_filled(self, target: int) -> str:
        """Decode forward until ``target`` is filled: "filled", "overshot" or "eof"."""
        for frame in self.frames:
            idx = self.index_of(frame)
            # A wanted index between two decoded frames (dropped frames, variable rate) gets
            # the frame on screen at that time: the earlier one.
            while self.j < len(self.wanted) and self.wanted[self.j] < idx:
                if self.prev is not None:
                    self._fill(self.prev)
                elif self.at_start:  # stream starts after index 0: nothing earlier exists
                    self._fill(frame)
                else:
                    return "overshot"
            if self.j < len(self.wanted) and self.wanted[self.j] == idx:
                self._fill(frame)
            self.prev = frame
            self.pos = idx
            if self.j >= len(self.wanted) or self.wanted[self.j] > target:
                return "filled"
        return "eof"
