"""OpenCV backend (``pip install opencv-python-headless``)."""

from __future__ import annotations

import numpy as np

from ..errors import VideoDecodeError
from ..info import check_file, keyframe_indices, open_video
from .base import Strategy, VideoBackend, should_seek


class OpenCVBackend(VideoBackend):
    """Decode with ``cv2.VideoCapture`` (its FFmpeg build), converting BGR to RGB.

    Seeks with ``CAP_PROP_POS_FRAMES``; skipped frames are grabbed without colour
    conversion. OpenCV exposes no keyframe index, so "auto" reads it with PyAV.
    Its YUV->RGB conversion differs from PyAV's by a few levels on chroma edges.
    """

    name = "opencv"
    module = "cv2"
    pip_package = "opencv-python-headless"
    supports_strategy = True
    # OpenCV's own seek backs up further than the keyframe and decodes forward, costing
    # about twice PyAV's (measured, docs/benchmarks.md).
    default_seek_threshold = 32

    def read_frames(self, path: str, indices: np.ndarray, *, strategy: Strategy, seek_threshold: int) -> np.ndarray:
        cv2 = self.import_module()
        check_file(path)
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        try:
            if not cap.isOpened():
                reason = "OpenCV (FFmpeg) cannot open it: not a video, truncated, or no video stream"
                raise VideoDecodeError(path, reason)
            out: list[np.ndarray] = []
            pos = -1
            keyframes = None
            for target in (int(i) for i in indices):
                if strategy == "auto" and keyframes is None and target - pos - 1 > seek_threshold:
                    keyframes = _keyframes(path)
                if should_seek(pos, target, strategy=strategy, seek_threshold=seek_threshold, keyframes=keyframes):
                    cap.set(cv2.CAP_PROP_POS_FRAMES, target)
                    pos = target - 1
                while pos < target and cap.grab():
                    pos += 1
                if pos < target:
                    break  # end of stream
                ok, bgr = cap.retrieve()
                if not ok:
                    break
                out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if len(out) < len(indices):
                final = self._last_frame(cv2, path)
                if final is None:
                    raise VideoDecodeError(path, "no decodable video frames")
                out.extend([final] * (len(indices) - len(out)))
            return np.stack(out)
        except cv2.error as e:
            raise VideoDecodeError(path, f"OpenCV decoding failed ({e})") from e
        finally:
            cap.release()

    @staticmethod
    def _last_frame(cv2, path: str) -> np.ndarray | None:
        # Where a stream really ends is only known by decoding to its end; a failed grab
        # leaves nothing to retrieve, and seeking near the end is not exact in OpenCV.
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        bgr = None
        try:
            while cap.grab():
                ok, frame = cap.retrieve()
                if ok:
                    bgr = frame
            return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()


def _keyframes(path: str) -> list[int]:
    # Without an index every long gap would look worth a seek, and on long-GOP files each
    # seek re-decodes from a keyframe already passed; PyAV reads the index in ~1 ms.
    try:
        container, stream = open_video(path)
    except VideoDecodeError:
        return []
    try:
        return keyframe_indices(stream)
    finally:
        container.close()
