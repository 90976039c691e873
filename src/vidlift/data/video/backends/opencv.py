"""OpenCV backend (``pip install opencv-python-headless``)."""

from __future__ import annotations

import numpy as np

from ..errors import VideoDecodeError
from ..info import check_file
from .base import Strategy, VideoBackend, should_seek


class OpenCVBackend(VideoBackend):
    """Decode with ``cv2.VideoCapture`` (its FFmpeg build), converting BGR to RGB.

    Seeks with ``CAP_PROP_POS_FRAMES``; skipped frames are grabbed without colour
    conversion. OpenCV exposes no keyframe index, so "auto" seeks on gap size alone.
    Its YUV->RGB conversion differs from PyAV's by a few levels on chroma edges.
    """

    name = "opencv"
    module = "cv2"
    pip_package = "opencv-python-headless"
    supports_strategy = True

    def read_frames(
        self, path: str, indices: np.ndarray, *, strategy: Strategy, seek_threshold: int
    ) -> np.ndarray:
        cv2 = self.import_module()
        check_file(path)
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        try:
            if not cap.isOpened():
                raise VideoDecodeError(path, "OpenCV (FFmpeg) cannot open it: not a video, truncated, or no video stream")
            out: list[np.ndarray] = []
            pos = -1
            for target in (int(i) for i in indices):
                if should_seek(pos, target, strategy=strategy, seek_threshold=seek_threshold):
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
