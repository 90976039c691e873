"""decord backend (``pip install decord``)."""

from __future__ import annotations

import numpy as np

from ..errors import VideoDecodeError
from ..info import check_file
from .base import Strategy, VideoBackend


class DecordBackend(VideoBackend):
    """Decode with ``decord.VideoReader``, which plans its own seeks (strategy is ignored)."""

    name = "decord"
    module = "decord"
    pip_package = "decord"

    def read_frames(self, path: str, indices: np.ndarray, *, strategy: Strategy, seek_threshold: int) -> np.ndarray:
        decord = self.import_module()
        check_file(path)
        try:
            reader = decord.VideoReader(path, ctx=decord.cpu(0))
            n = len(reader)
            frames = None
            if n > 0:
                frames = reader.get_batch(np.minimum(indices, n - 1).tolist()).asnumpy()
        except (decord.DECORDError, RuntimeError) as e:
            raise VideoDecodeError(path, f"decord cannot decode it ({e})") from e
        if frames is None:
            raise VideoDecodeError(path, "no decodable video frames")
        return frames
