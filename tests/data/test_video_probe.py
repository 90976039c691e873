import pytest

from tests.data.conftest import CLIP_SPECS
from vidlift.data.video import VideoInfo, probe

CODECS = {"libx264": "h264", "mpeg4": "mpeg4", "libvpx-vp9": "vp9"}


def test_probe_generated_clips(clip):
    spec = CLIP_SPECS[clip.name]
    info = probe(clip.path)
    assert isinstance(info, VideoInfo)
    assert info.path == clip.path
    assert info.num_frames == clip.num_frames
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(clip.num_frames / 25.0, abs=1 / 25)
    assert (info.width, info.height) == (64, 48)
    assert info.codec == CODECS[spec.get("codec", "libx264")]


@pytest.mark.parametrize("name", ["h264_offset_mkv", "vp9_webm", "h264_ts"])
def test_probe_counts_frames_when_container_reports_none(clips, name):
    # These containers store no frame count (PyAV reports 0): the count comes from the
    # first and last timestamps, and is exact for constant frame rate.
    import av

    with av.open(clips[name].path) as c:
        assert c.streams.video[0].frames == 0
    info = probe(clips[name].path)
    assert info.frames_estimated
    assert info.num_frames == clips[name].num_frames


def test_probe_offset_start_does_not_inflate_duration(clips):
    # The mkv's first frame is at 2 s; its container duration counts from 0.
    info = probe(clips["h264_offset_mkv"].path)
    assert info.duration == pytest.approx(48 / 25)


def test_probe_mp4_count_is_stored(clips):
    assert not probe(clips["h264_mp4"].path).frames_estimated


def test_probe_real_clips(real_clips):
    bikes = probe(real_clips["bikes.mp4"])
    assert (bikes.num_frames, bikes.fps, bikes.duration) == (250, 25.0, 10.0)
    assert (bikes.width, bikes.height, bikes.codec) == (640, 272, "h264")
    bunny = probe(real_clips["bigbuckbunny.mp4"])
    assert (bunny.num_frames, bunny.fps, bunny.width, bunny.height) == (132, 25.0, 1280, 720)
    assert bunny.duration == pytest.approx(132 / 25, abs=0.05)


def test_probe_accepts_pathlike(clips):
    from pathlib import Path

    assert probe(Path(clips["h264_mp4"].path)).path == clips["h264_mp4"].path


def test_keyframe_indices_from_container_index(clips):
    import av

    from vidlift.data.video.info import keyframe_indices

    with av.open(clips["h264_longgop_bframes_mp4"].path) as c:
        keys = keyframe_indices(c.streams.video[0])
    # Keyframes at 0 and 60; index times are decode times, a few frames early with B-frames.
    assert len(keys) == 2
    assert abs(keys[0]) <= 3 and abs(keys[1] - 60) <= 3
    with av.open(clips["h264_ts"].path) as c:
        assert keyframe_indices(c.streams.video[0]) == []  # MPEG-TS has no index
