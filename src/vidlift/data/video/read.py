"""One call from a path to sampled frames: probe, sample, decode."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from .backends import VideoBackend
from .decode import decode
from .errors import VideoDecodeError
from .info import VideoInfo, probe
from .samplers import FrameSampler, RngLike


@dataclass(frozen=True)
class DecodedVideo:
    """Frames read by :func:`read_video`.

    Attributes:
        frames: uint8 (N, H, W, 3), RGB.
        indices: int64 (N,), the frame indices decoded.
        timestamps: float64 (N,), seconds from the start of the video.
        num_clips: frames form ``num_clips`` clips, laid out clip after clip.
        info: the probed video.
    """

    frames: torch.Tensor
    indices: np.ndarray
    timestamps: np.ndarray
    num_clips: int
    info: VideoInfo


def read_video(
    path: str | os.PathLike,
    sampler: FrameSampler,
    backend: str | VideoBackend = "pyav",
    rng: RngLike = None,
    **decode_kwargs,
) -> DecodedVideo:
    """Probe ``path``, choose frames with ``sampler``, decode them.

    Args:
        sampler: e.g. ``SegmentSampler(8, mode="test")``.
        backend: decoding backend name, see :func:`decode`.
        rng: ``numpy.random.Generator`` (or seed) for random samplers.
        decode_kwargs: ``strategy`` / ``seek_threshold``, passed to :func:`decode`.

    Returns:
        :class:`DecodedVideo` with frames (N, H, W, 3) uint8 and the indices and timestamps used.

    Raises:
        VideoDecodeError: for anything about the file (missing, empty, corrupt, or no frame
            count / rate to sample from), so that callers catch one type for bad videos.
    """
    info = probe(path)
    try:
        sample = sampler(info, rng=rng)
    except ValueError as e:  # the samplers refuse a video with no frames or no frame rate
        raise VideoDecodeError(path, str(e)) from e
    frames = decode(path, sample.indices, backend=backend, **decode_kwargs)
    return DecodedVideo(frames, sample.indices, sample.timestamps, sample.num_clips, info)
