"""What every decoding backend provides, and the seek-or-continue decision they share."""

from __future__ import annotations

import bisect
import importlib
from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import numpy as np

from ..errors import BackendUnavailableError

Strategy = Literal["auto", "sequential", "seek"]
STRATEGIES: tuple[str, ...] = ("auto", "sequential", "seek")

# Frames a seek must skip before "auto" takes it. A seek costs a demuxer reposition, a
# decoder flush and a refill of the frame-thread pipeline: about as much as decoding a dozen
# 224p h264 frames here (measured, see docs/benchmarks.md), so shorter skips decode through.
DEFAULT_SEEK_THRESHOLD = 16


class VideoBackend(ABC):
    """A decoder library behind :func:`vidlift.data.video.decode`.

    Subclasses name the module they need (imported lazily, on first use) and the pip
    package that provides it, and implement :meth:`read_frames`.
    """

    name: ClassVar[str]
    module: ClassVar[str]  # top-level import that must succeed
    pip_package: ClassVar[str]
    supports_strategy: ClassVar[bool] = False  # honours strategy / seek_threshold
    default_seek_threshold: ClassVar[int] = DEFAULT_SEEK_THRESHOLD

    @classmethod
    def import_module(cls):
        """Import the backend's library, or raise :class:`BackendUnavailableError`."""
        try:
            return importlib.import_module(cls.module)
        except ImportError as e:
            raise BackendUnavailableError(cls.name, cls.pip_package) from e
        except Exception as e:  # noqa: BLE001 - e.g. torchcodec raises OSError on a missing FFmpeg
            raise BackendUnavailableError(
                cls.name, cls.pip_package, f"installed but failed to load: {type(e).__name__}: {e}"
            ) from e

    @classmethod
    def is_available(cls) -> bool:
        try:
            cls.import_module()
        except BackendUnavailableError:
            return False
        return True

    @abstractmethod
    def read_frames(self, path: str, indices: np.ndarray, *, strategy: Strategy, seek_threshold: int) -> np.ndarray:
        """Decode frames ``indices`` of ``path``.

        Args:
            indices: sorted, unique, non-negative int64, shape (U,).
        Returns:
            uint8 RGB array (U, H, W, 3). An index past the last decodable frame gives the
            last decodable frame.
        Raises:
            VideoDecodeError: the file cannot be decoded.
        """


def should_seek(
    pos: int,
    target: int,
    *,
    strategy: Strategy,
    seek_threshold: int,
    keyframes: list[int] | None = None,
) -> bool:
    """Whether to seek to ``target`` rather than decode forward from frame ``pos``.

    "auto" seeks when the seek would skip more than ``seek_threshold`` frames: a seek
    lands on the last keyframe at or before ``target``, so with a keyframe index the
    frames skipped are those between ``pos`` and that keyframe (none when the keyframe is
    not past ``pos``: seeking would only re-decode frames); without one, the gap itself.

    Args:
        pos: index of the last decoded frame, -1 before the first.
        target: next wanted frame index, ``> pos``.
        keyframes: sorted (approximate) keyframe indices when the container indexes them.
    """
    if strategy == "sequential" or target <= pos + 1:
        return False
    if strategy == "seek":
        return True
    if keyframes:
        i = bisect.bisect_right(keyframes, target) - 1
        landing = keyframes[i] if i >= 0 else 0
    else:
        landing = target
    return landing - pos - 1 > seek_threshold
