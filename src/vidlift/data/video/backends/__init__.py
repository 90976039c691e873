"""Decoding backends: PyAV (default), and optional OpenCV, decord, torchcodec.

Each optional library is imported on first use only; asking for one that is not
installed raises :class:`~vidlift.data.video.errors.BackendUnavailableError` naming
the pip package.
"""

from __future__ import annotations

from .base import DEFAULT_SEEK_THRESHOLD, STRATEGIES, Strategy, VideoBackend, should_seek
from .decord import DecordBackend
from .opencv import OpenCVBackend
from .pyav import PyAVBackend
from .torchcodec import TorchCodecBackend

# One line per backend.
BACKENDS: dict[str, type[VideoBackend]] = {
    "pyav": PyAVBackend,
    "opencv": OpenCVBackend,
    "decord": DecordBackend,
    "torchcodec": TorchCodecBackend,
}


def get_backend(name: str | VideoBackend) -> VideoBackend:
    """Return a ready backend for ``name`` (one of :data:`BACKENDS`), or pass an instance through.

    Raises:
        ValueError: unknown name.
        BackendUnavailableError: the backend's library is not installed or fails to load.
    """
    if isinstance(name, VideoBackend):
        return name
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown video backend {name!r}; choose from {sorted(BACKENDS)}") from None
    cls.import_module()
    return cls()


def available_backends() -> list[str]:
    """Names of the backends whose libraries import on this machine."""
    return [name for name, cls in BACKENDS.items() if cls.is_available()]


__all__ = [
    "BACKENDS",
    "DEFAULT_SEEK_THRESHOLD",
    "STRATEGIES",
    "DecordBackend",
    "OpenCVBackend",
    "PyAVBackend",
    "Strategy",
    "TorchCodecBackend",
    "VideoBackend",
    "available_backends",
    "get_backend",
    "should_seek",
]
