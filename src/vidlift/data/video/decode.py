"""Decoding chosen frames of a video into a tensor, with any installed backend."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from .backends import STRATEGIES, Strategy, VideoBackend, get_backend
from .errors import VideoDecodeError
from .info import probe


def decode(
    path: str | os.PathLike,
    indices: Sequence[int] | np.ndarray | torch.Tensor,
    backend: str | VideoBackend = "pyav",
    *,
    strategy: Strategy = "auto",
    seek_threshold: int | None = None,
) -> torch.Tensor:
    """Decode frames ``indices`` of a video as RGB.

    Args:
        path: video file.
        indices: frame indices, shape (T,), any order, duplicates allowed. Indices past the
            last decodable frame (frame counts can be estimates) return that last frame.
        backend: "pyav" (default), "opencv", "decord" or "torchcodec"; the optional ones
            must be installed (see :func:`~vidlift.data.video.available_backends`).
        strategy: how PyAV/OpenCV move between wanted frames. "sequential" decodes every
            frame from the start up to the last wanted one; "seek" jumps to the keyframe
            before every wanted frame that is not the next one; "auto" seeks only when that
            skips more than ``seek_threshold`` frames (PyAV reads where keyframes are from
            the container index, so it never seeks back to a keyframe it has passed). All
            give the same frames. decord and torchcodec plan their own seeks and accept
            only "auto".
        seek_threshold: frames a seek must skip for "auto" to take it; None uses the
            backend's measured default (16 for PyAV, 32 for OpenCV).

    Returns:
        uint8 tensor (T, H, W, 3), frame ``t`` being frame ``indices[t]``.

    Raises:
        VideoDecodeError: the file cannot be decoded (missing, empty, truncated, not a video).
        BackendUnavailableError: ``backend`` is not installed.
        ValueError: bad indices, strategy or backend name.
    """
    path = os.fspath(path)
    wanted = _as_indices(indices)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    impl = get_backend(backend)
    if seek_threshold is None:
        seek_threshold = impl.default_seek_threshold
    if seek_threshold < 0:
        raise ValueError(f"seek_threshold must be >= 0, got {seek_threshold}")
    if strategy != "auto" and not impl.supports_strategy:
        raise ValueError(f"backend {impl.name!r} plans its own seeks; use strategy='auto'")
    if wanted.size == 0:
        info = probe(path)
        return torch.empty((0, info.height, info.width, 3), dtype=torch.uint8)
    unique, inverse = np.unique(wanted, return_inverse=True)
    frames = impl.read_frames(path, unique, strategy=strategy, seek_threshold=seek_threshold)
    if frames.ndim != 4 or frames.shape[0] != unique.size or frames.shape[-1] != 3:
        raise VideoDecodeError(path, f"backend {impl.name!r} returned frames of shape {frames.shape}")
    return torch.from_numpy(np.ascontiguousarray(frames[inverse], dtype=np.uint8))


def _as_indices(indices) -> np.ndarray:
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    arr = np.asarray(indices)
    if arr.ndim != 1:
        raise ValueError(f"indices must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"indices must be integers, got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"indices must be >= 0, got {int(arr.min())}")
    return arr.astype(np.int64, copy=False)
