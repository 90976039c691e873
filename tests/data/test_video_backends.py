import numpy as np
import pytest
import torch

from tests.videos import read_indices
from vidlift.data.video import BackendUnavailableError, VideoBackend, available_backends, decode, get_backend, probe
from vidlift.data.video.backends import BACKENDS

OPTIONAL = [name for name in BACKENDS if name != "pyav"]


def _require(backend: str):
    try:
        get_backend(backend)
    except BackendUnavailableError as e:
        pytest.skip(str(e))


def _assert_close(a: torch.Tensor, b: torch.Tensor):
    # Backends share FFmpeg but may convert YUV->RGB with different filters.
    diff = (a.int() - b.int()).abs()
    assert diff.float().mean() <= 1.0
    assert diff.max() <= 24


def test_pyav_always_available():
    assert "pyav" in available_backends()


@pytest.mark.parametrize("backend", OPTIONAL)
def test_optional_backend_matches_pyav_on_generated_clips(clip, backend, request):
    _require(backend)
    if backend == "decord" and clip.name == "mpeg4_bframes_avi":
        # decord 0.6 builds its keyframe table from AVI decode times and lands 28 frames
        # early on random access (frame 45 -> 17). Strict: tells us when it is fixed.
        request.applymarker(pytest.mark.xfail(strict=True, reason="decord mis-seeks in AVI with B-frames"))
    n = clip.num_frames
    indices = [n - 1, 0, 5, 5, n // 2, n + 10]
    ref = decode(clip.path, indices)
    out = decode(clip.path, indices, backend=backend)
    assert out.shape == ref.shape and out.dtype == torch.uint8
    assert read_indices(out) == [n - 1, 0, 5, 5, n // 2, n - 1]
    _assert_close(out, ref)


@pytest.mark.parametrize("backend", OPTIONAL)
def test_optional_backend_matches_pyav_on_real_clips(real_clip, backend):
    _require(backend)
    n = probe(real_clip).num_frames
    indices = np.linspace(0, n - 1, 6).round().astype(int)
    _assert_close(decode(real_clip, indices, backend=backend), decode(real_clip, indices))


@pytest.mark.parametrize("strategy", ["sequential", "seek", "auto"])
def test_opencv_strategies_agree(long_gop_clip, strategy):
    _require("opencv")
    indices = [3, 70, 71, 118, 130]
    out = decode(long_gop_clip.path, indices, backend="opencv", strategy=strategy, seek_threshold=8)
    assert read_indices(out) == [3, 70, 71, 118, 119]


@pytest.mark.parametrize("backend", ["decord", "torchcodec"])
def test_self_seeking_backends_refuse_strategies(clips, backend):
    _require(backend)
    with pytest.raises(ValueError, match="auto"):
        decode(clips["h264_mp4"].path, [0], backend=backend, strategy="seek")


class _PatternBackend(VideoBackend):
    """A backend that returns frames filled with their index: checks decode()'s contract."""

    name = "pattern"
    module = "numpy"
    pip_package = "numpy"

    def __init__(self):
        self.calls = []

    def read_frames(self, path, indices, *, strategy, seek_threshold):
        self.calls.append(indices.copy())
        return np.repeat(indices.astype(np.uint8), 2 * 2 * 3).reshape(-1, 2, 2, 3)


def test_decode_asks_backend_once_per_unique_index_and_reorders():
    backend = _PatternBackend()
    frames = decode("unused.mp4", [9, 2, 9, 4, 2], backend=backend)
    assert backend.calls[0].tolist() == [2, 4, 9]  # sorted, unique
    assert frames[:, 0, 0, 0].tolist() == [9, 2, 9, 4, 2]
    assert frames.is_contiguous()
    with pytest.raises(ValueError, match="own seeks"):
        decode("unused.mp4", [1], backend=backend, strategy="sequential")
