"""Video I/O: probe a file, choose frames with a sampler, decode them with a backend.

>>> from vidlift.data.video import read_video, SegmentSampler
>>> clip = read_video("video.mp4", SegmentSampler(8, mode="test"))
>>> clip.frames.shape  # (8, H, W, 3) uint8 RGB
"""

from .backends import BACKENDS, DEFAULT_SEEK_THRESHOLD, VideoBackend, available_backends, get_backend
from .decode import decode
from .errors import BackendUnavailableError, VideoDecodeError
from .info import VideoInfo, probe
from .read import DecodedVideo, read_video
from .samplers import DenseSampler, FpsSampler, FrameSample, FrameSampler, MultiViewSampler, SegmentSampler

__all__ = [
    "BACKENDS",
    "DEFAULT_SEEK_THRESHOLD",
    "BackendUnavailableError",
    "DecodedVideo",
    "DenseSampler",
    "FpsSampler",
    "FrameSample",
    "FrameSampler",
    "MultiViewSampler",
    "SegmentSampler",
    "VideoBackend",
    "VideoDecodeError",
    "VideoInfo",
    "available_backends",
    "decode",
    "get_backend",
    "probe",
    "read_video",
]
