"""torchcodec backend (``pip install torchcodec``; needs FFmpeg libraries on the system)."""

from __future__ import annotations

import numpy as np

from ..errors import VideoDecodeError
from ..info import check_file
from .base import Strategy, VideoBackend


class TorchCodecBackend(VideoBackend):
    """Decode with ``torchcodec.decoders.VideoDecoder`` in exact seek mode (strategy is ignored)."""

    name = "torchcodec"
    module = "torchcodec.decoders"
    pip_package = "torchcodec"

    def read_frames(self, path: str, indices: np.ndarray, *, strategy: Strategy, seek_threshold: int) -> np.ndarray:
        decoders = self.import_module()
        check_file(path)
        try:
            decoder = decoders.VideoDecoder(path, seek_mode="exact", dimension_order="NHWC")
            n = decoder.metadata.num_frames or len(decoder)
            frames = None
            if n:
                wanted = np.minimum(indices, n - 1).tolist()
                frames = decoder.get_frames_at(indices=wanted).data.numpy()
        except (RuntimeError, ValueError) as e:
            raise VideoDecodeError(path, f"torchcodec cannot decode it ({e})") from e
        if frames is None:
            raise VideoDecodeError(path, "no decodable video frames")
        return frames
