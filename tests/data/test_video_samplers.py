import numpy as np
import pytest

from vidlift.data.video import DenseSampler, FpsSampler, FrameSample, SegmentSampler, VideoInfo


def info(num_frames=250, fps=25.0, duration=None):
    duration = num_frames / fps if duration is None else duration
    return VideoInfo("v.mp4", num_frames, fps, duration, 64, 48, "h264")


# --- SegmentSampler ---------------------------------------------------------------------


def test_segment_test_mode_takes_segment_centres():
    sample = SegmentSampler(8, mode="test")(info(250))
    # Segments of 31.25 frames; centre of segment k is floor((k + 0.5) * 31.25).
    assert sample.indices.tolist() == [15, 46, 78, 109, 140, 171, 203, 234]
    assert sample.indices.dtype == np.int64
    np.testing.assert_allclose(sample.timestamps, sample.indices / 25.0)
    assert sample.num_clips == 1 and len(sample) == 8


def test_segment_train_mode_one_random_frame_per_segment():
    sampler = SegmentSampler(8, mode="train")
    draws = np.stack([sampler(info(250), rng=np.random.default_rng(s)).indices for s in range(1000)])
    # Segment k is [31.25 k, 31.25 (k + 1)): frames floor(31.25 k) .. ceil(31.25 (k + 1)) - 1.
    lo = np.floor(np.arange(8) * 31.25)
    hi = np.ceil(np.arange(1, 9) * 31.25)
    assert ((draws >= lo) & (draws < hi)).all()
    # Offsets spread over the whole segment, not stuck at one position.
    assert (draws.min(0) == lo).all() and (draws.max(0) == hi - 1).all()


def test_segment_train_mode_is_reproducible_with_rng():
    sampler = SegmentSampler(8, mode="train")
    a = sampler(info(), rng=np.random.default_rng(7)).indices
    b = sampler(info(), rng=np.random.default_rng(7)).indices
    c = sampler(info(), rng=np.random.default_rng(8)).indices
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert sampler(info(), rng=3).indices.tolist() == sampler(info(), rng=3).indices.tolist()


@pytest.mark.parametrize("mode", ["train", "test"])
def test_segment_short_video_repeats_frames(mode):
    sample = SegmentSampler(8, mode=mode)(info(3), rng=np.random.default_rng(0))
    assert len(sample.indices) == 8
    assert sample.indices.min() >= 0 and sample.indices.max() <= 2
    assert (np.diff(sample.indices) >= 0).all()  # still in temporal order
    if mode == "test":
        assert sample.indices.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]


# --- DenseSampler -----------------------------------------------------------------------


def test_dense_center_clip():
    sample = DenseSampler(clip_len=8, stride=4, mode="center")(info(100))
    # Span 29 frames, starts 0..71, centre start 35.
    assert sample.indices.tolist() == list(range(35, 64, 4))
    np.testing.assert_allclose(sample.timestamps, sample.indices / 25.0)


def test_dense_random_clip_in_range_and_reproducible():
    sampler = DenseSampler(clip_len=8, stride=4, mode="random")
    starts = {int(sampler(info(100), rng=np.random.default_rng(s)).indices[0]) for s in range(300)}
    assert min(starts) == 0 and max(starts) == 71
    s1 = sampler(info(100), rng=np.random.default_rng(1)).indices
    assert np.all(np.diff(s1) == 4)
    assert s1.tolist() == sampler(info(100), rng=np.random.default_rng(1)).indices.tolist()


def test_dense_multi_clips_evenly_spaced():
    sample = DenseSampler(clip_len=4, stride=2, mode="multi", num_clips=3)(info(100))
    # Span 7, starts 0..93 (94 positions) cut in 3 parts; each clip starts mid-part.
    assert sample.num_clips == 3 and sample.indices.shape == (12,)
    clips = sample.indices.reshape(3, 4)
    assert clips[:, 0].tolist() == [15, 47, 78]
    assert (np.diff(clips, axis=1) == 2).all()


def test_dense_short_video_clamps_to_last_frame():
    sample = DenseSampler(clip_len=8, stride=4, mode="random")(info(10), rng=np.random.default_rng(0))
    assert sample.indices.tolist() == [0, 4, 8, 9, 9, 9, 9, 9]
    multi = DenseSampler(clip_len=8, stride=1, mode="multi", num_clips=2)(info(5))
    assert multi.indices.tolist() == [0, 1, 2, 3, 4, 4, 4, 4] * 2


def test_dense_rejects_bad_arguments():
    with pytest.raises(ValueError, match="multi"):
        DenseSampler(8, mode="center", num_clips=2)
    with pytest.raises(ValueError):
        DenseSampler(0)
    with pytest.raises(ValueError, match="mode"):
        DenseSampler(8, mode="uniform")


# --- FpsSampler -------------------------------------------------------------------------


def test_fps_sampler_grid_and_timestamps():
    sample = FpsSampler(2.0)(info(250, fps=25.0))
    assert len(sample) == 20  # 10 s at 2 fps: 0, 0.5, ..., 9.5
    np.testing.assert_allclose(sample.timestamps, np.arange(20) * 0.5)
    # Frame on screen at t: floor(t * 25).
    assert sample.indices[:5].tolist() == [0, 12, 25, 37, 50]
    assert sample.indices[-1] == 237


def test_fps_sampler_non_integer_video_rate():
    sample = FpsSampler(1.0)(info(300, fps=30000 / 1001))
    assert len(sample) == 11  # 10.01 s -> t = 0..10
    assert sample.indices[:4].tolist() == [0, 29, 59, 89]
    assert sample.indices[-1] == 299


def test_fps_sampler_max_frames_keeps_grid():
    sample = FpsSampler(2.0, max_frames=5)(info(250))
    np.testing.assert_allclose(sample.timestamps, [0, 0.5, 1.0, 1.5, 2.0])


def test_fps_sampler_short_video_returns_a_frame():
    sample = FpsSampler(0.5)(info(3, fps=25.0))
    assert sample.indices.tolist() == [0] and sample.timestamps.tolist() == [0.0]
    # Higher rate than the video: frames repeat, timestamps stay on the grid.
    dense = FpsSampler(50.0)(info(4, fps=25.0))
    assert dense.indices.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_samplers_validate_info():
    with pytest.raises(ValueError, match="0 frames"):
        SegmentSampler(4)(info(0, duration=1.0))


def test_sample_is_frame_sample():
    assert isinstance(SegmentSampler(2)(info()), FrameSample)
