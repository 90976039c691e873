import numpy as np
import pytest
import torch

from tests.videos import BLUE, RED, read_index, read_indices
from vidlift.data.video import decode, probe
from vidlift.data.video.backends import pyav as pyav_backend
from vidlift.data.video.backends import should_seek

STRATEGIES = ["sequential", "seek", "auto"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_decode_returns_requested_frames_in_order(clip, strategy):
    n = clip.num_frames
    indices = [n - 1, 0, 7, 7, n // 2, 1, 0]
    frames = decode(clip.path, indices, strategy=strategy, seek_threshold=4)
    assert frames.dtype == torch.uint8
    assert frames.shape == (len(indices), 48, 64, 3)
    assert read_indices(frames) == indices


def test_decode_is_rgb(clips):
    frame = decode(clips["h264_mp4"].path, [3])[0].numpy().astype(int)
    # Bottom-left patch is red, bottom-right blue: BGR output would swap them.
    assert np.abs(frame[40, 8] - RED).max() <= 6
    assert np.abs(frame[40, 56] - BLUE).max() <= 6


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_indices_past_end_clamp_to_last_frame(clip, strategy):
    n = clip.num_frames
    frames = decode(clip.path, [n - 2, n, n + 5, 10 * n], strategy=strategy)
    assert read_indices(frames) == [n - 2, n - 1, n - 1, n - 1]


def test_only_past_end_indices(clips):
    # A seek far past the end must still find the last frame.
    path = clips["h264_longgop_bframes_mp4"].path
    for strategy in STRATEGIES:
        assert read_indices(decode(path, [500, 1000], strategy=strategy)) == [119, 119]


def test_sequential_and_seek_give_identical_frames(clip):
    n = clip.num_frames
    indices = list(range(0, n, 5)) + [n - 1, 3, 3]
    seq = decode(clip.path, indices, strategy="sequential")
    seek = decode(clip.path, indices, strategy="seek")
    auto = decode(clip.path, indices, strategy="auto", seek_threshold=2)
    assert torch.equal(seq, seek)
    assert torch.equal(seq, auto)
    assert read_indices(seq) == indices


def test_every_frame_decodes_to_its_index(clip):
    indices = list(range(clip.num_frames))
    assert read_indices(decode(clip.path, indices)) == indices


def test_real_clips_sequential_equals_seek(real_clip):
    n = probe(real_clip).num_frames
    indices = np.linspace(0, n - 1, 8).round().astype(int)
    seq = decode(real_clip, indices, strategy="sequential")
    seek = decode(real_clip, indices, strategy="seek")
    assert seq.shape[0] == 8
    assert torch.equal(seq, seek)
    # Distinct frames of a real clip differ: the frames are not one repeated frame.
    assert not torch.equal(seq[0], seq[-1])


def test_real_clip_past_end_clamps(real_clips):
    path = real_clips["bikes.mp4"]
    frames = decode(path, [249, 250, 400])
    assert torch.equal(frames[0], frames[1]) and torch.equal(frames[0], frames[2])
    assert not torch.equal(frames[0], decode(path, [248])[0])


def _count_seeks(monkeypatch):
    seeks = []
    original = pyav_backend._DecodeRun._new_frames

    def spy(self, seek_to):
        if seek_to is not None:
            seeks.append(seek_to)
        return original(self, seek_to)

    monkeypatch.setattr(pyav_backend._DecodeRun, "_new_frames", spy)
    return seeks


def test_strategies_choose_between_seeking_and_decoding_through(long_gop_clip, monkeypatch):
    # Keyframes at 0, 60 in a 120-frame clip.
    seeks = _count_seeks(monkeypatch)
    indices = [5, 70, 110]
    assert read_indices(decode(long_gop_clip.path, indices, strategy="sequential")) == indices
    assert seeks == []
    assert read_indices(decode(long_gop_clip.path, indices, strategy="seek")) == indices
    assert seeks == [5, 70, 110]
    seeks.clear()
    # auto: 5 is near the start; 70 is past keyframe 60; from 70 to 110 there is no
    # keyframe, so a seek would land on 60 again and decode more than continuing.
    assert read_indices(decode(long_gop_clip.path, indices, strategy="auto", seek_threshold=16)) == indices
    assert seeks == [70]
    seeks.clear()
    decode(long_gop_clip.path, indices, strategy="auto", seek_threshold=100)
    assert seeks == []
    decode(long_gop_clip.path, indices)  # defaults: auto, PyAV's threshold (16)
    assert seeks == [70]


def test_should_seek_rules():
    kw = dict(seek_threshold=10)
    assert not should_seek(4, 5, strategy="seek", **kw)  # next frame: never seek
    assert should_seek(4, 6, strategy="seek", **kw)
    assert not should_seek(-1, 500, strategy="sequential", **kw)
    # No keyframe index: the gap decides.
    assert not should_seek(0, 11, strategy="auto", **kw)
    assert should_seek(0, 12, strategy="auto", **kw)
    # With an index: the frames skipped up to the landing keyframe decide.
    assert should_seek(0, 40, strategy="auto", keyframes=[0, 15, 30], **kw)  # lands on 30
    assert not should_seek(0, 40, strategy="auto", keyframes=[0, 8, 50], **kw)  # lands on 8
    assert not should_seek(16, 40, strategy="auto", keyframes=[0, 15, 45], **kw)  # behind pos
    assert not should_seek(-1, 40, strategy="auto", keyframes=[-2, 45], **kw)  # start


def test_decode_accepts_numpy_and_tensor_indices(clips):
    path = clips["h264_mp4"].path
    assert read_indices(decode(path, np.array([3, 1], dtype=np.int32))) == [3, 1]
    assert read_indices(decode(path, torch.tensor([2, 9]))) == [2, 9]


def test_decode_empty_indices(clips):
    frames = decode(clips["h264_mp4"].path, [])
    assert frames.shape == (0, 48, 64, 3) and frames.dtype == torch.uint8


@pytest.mark.parametrize(
    "indices, match",
    [([-1, 2], ">= 0"), ([[1, 2]], "1-D"), ([0.5, 1.0], "integers")],
)
def test_decode_rejects_bad_indices(clips, indices, match):
    with pytest.raises(ValueError, match=match):
        decode(clips["h264_mp4"].path, indices)


def test_decode_rejects_bad_strategy(clips):
    with pytest.raises(ValueError, match="strategy"):
        decode(clips["h264_mp4"].path, [0], strategy="fast")


def test_frame_content_matches_pattern(clips):
    # Pixel values survive the codec: white bars are near 255, black near 0.
    frame = decode(clips["h264_mp4"].path, [33])[0]
    assert read_index(frame) == 33  # 0b00100001: bars 2 and 7 white
    top = frame[6:18].float()
    assert top[:, 2 * 8 + 4].mean() > 230  # bit 5 set -> white bar 2
    assert top[:, 7 * 8 + 4].mean() > 230
    assert top[:, 0 * 8 + 4].mean() < 25  # bit 7 clear -> black bar 0
