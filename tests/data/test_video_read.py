import numpy as np
import pytest
import torch

from tests.videos import read_indices
from vidlift.data.video import DecodedVideo, DenseSampler, FpsSampler, SegmentSampler, read_video


def test_read_video_segment_sampler(clips):
    clip = clips["h264_mp4"]  # 48 frames
    out = read_video(clip.path, SegmentSampler(4, mode="test"))
    assert isinstance(out, DecodedVideo)
    assert out.indices.tolist() == [6, 18, 30, 42]
    assert read_indices(out.frames) == [6, 18, 30, 42]
    np.testing.assert_allclose(out.timestamps, out.indices / 25.0)
    assert out.info.num_frames == 48 and out.num_clips == 1


def test_read_video_random_sampler_reproducible(clips):
    path = clips["h264_longgop_bframes_mp4"].path
    a = read_video(path, SegmentSampler(6, mode="train"), rng=np.random.default_rng(3))
    b = read_video(path, SegmentSampler(6, mode="train"), rng=np.random.default_rng(3))
    assert a.indices.tolist() == b.indices.tolist()
    assert torch.equal(a.frames, b.frames)
    assert read_indices(a.frames) == a.indices.tolist()


def test_read_video_dense_multi_reshapes_to_clips(clips):
    out = read_video(clips["h264_mp4"].path, DenseSampler(4, stride=2, mode="multi", num_clips=2))
    frames = out.frames.reshape(out.num_clips, -1, *out.frames.shape[1:])
    assert frames.shape == (2, 4, 48, 64, 3)
    assert [read_indices(c) for c in frames] == out.indices.reshape(2, 4).tolist()


def test_read_video_short_video_returns_requested_count(clips):
    # 40-frame clip, 64 requested: frames repeat, none missing.
    out = read_video(clips["vp9_webm"].path, SegmentSampler(64, mode="test"))
    assert out.frames.shape[0] == 64
    assert read_indices(out.frames) == out.indices.tolist()
    assert set(out.indices.tolist()) == set(range(40))


def test_read_video_fps_sampler_on_real_clip(real_clips):
    out = read_video(real_clips["bikes.mp4"], FpsSampler(1.0), strategy="seek")
    assert out.frames.shape == (10, 272, 640, 3)
    np.testing.assert_allclose(out.timestamps, np.arange(10.0))
    assert out.indices.tolist() == list(range(0, 250, 25))


@pytest.mark.parametrize("name", ["h264_offset_mkv", "mpeg4_bframes_avi"])
def test_read_video_on_tricky_containers(clips, name):
    out = read_video(clips[name].path, SegmentSampler(5, mode="test"), strategy="seek")
    assert read_indices(out.frames) == out.indices.tolist()
