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

# Gap (in frames) above which "auto" considers seeking. Decoding one 224p h264 frame costs
# about as much as the seek itself plus the frame-thread pipeline refill, so gaps shorter
# than this are cheaper to decode through; see docs/benchmarks.md for the measurements.
DEFAULT_SEEK_THRESHOLD = 32


class VideoBackend(ABC):
    """A decoder library behind :func:`vidlift.data.video.decode`.

    Subclasses name the module they need (imported lazily, on first use) and the pip
    package that provides it, and implement :meth:`read_frames`.
    """

    name: ClassVar[str]
    module: ClassVar[str]  # top-level import that must succeed
    pip_package: ClassVar[str]
    supports_strategy: ClassVar[bool] = False  # honours strategy / seek_threshold

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
    def read_frames(
        self, path: str, indices: np.ndarray, *, strategy: Strategy, seek_threshold: int
    ) -> np.ndarray:
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

    Args:
        pos: index of the last decoded frame, -1 before the first.
        target: next wanted frame index, ``> pos``.
        keyframes: sorted (approximate) keyframe indices when the container indexes them.
            A seek lands on the keyframe at or before ``target``; when that keyframe is not
            past ``pos`` the seek would only re-decode frames, so "auto" does not seek.
    """
    if strategy == "sequential" or target <= pos + 1:
        return False
    if strategy == "seek":
        return True
    if target - pos <= seek_threshold:
        return False
    if keyframes:
        i = bisect.bisect_right(keyframes, target) - 1
        return i >= 0 and keyframes[i] > pos
    return True
