import numpy as np
import pytest

from vidlift.data.video import DenseSampler, FpsSampler, FrameSample, SegmentSampler, VideoInfo
from vidlift.data.video.samplers import RandomViewsSampler


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
# Expected indices worked out by hand from the reference formulas (DenseSampler's docstring):
# mmaction2 >= 1.0 SampleFrames._get_train_clips / _get_test_clips, mmaction2 0.x (AIM's fork)
# and EVL / ST-Adapter's video_dataset/dataset.py.


def clips_of(sample, clip_len=8):
    return sample.indices.reshape(-1, clip_len).tolist()


def test_dense_test_clips_300_frames_8x16_three_clips():
    # T=8, s=16: span = 7*16+1 = 113, max_offset = 300-113 = 187, 187/2 = 93.5.
    # mmaction2 >= 1.0 and EVL: starts round([0, 93.5, 187]) = [0, 94, 187] (half to even).
    for convention in ("mmaction2", "evl"):
        sample = DenseSampler(8, 16, "multi", 3, convention=convention)(info(300))
        assert sample.num_clips == 3
        assert clips_of(sample) == [list(range(0, 113, 16)), list(range(94, 207, 16)), list(range(187, 300, 16))]
    # mmaction2 0.x (AIM): window 8*16 = 128, avg = (300-128+1)/3 = 57.67; starts int(k*57.67 + 28.83)
    # = int(28.83), int(86.5), int(144.17) = [28, 86, 144].
    sample = DenseSampler(8, 16, "multi", 3, convention="mmaction2-0.x")(info(300))
    assert [c[0] for c in clips_of(sample)] == [28, 86, 144]
    assert clips_of(sample)[2] == list(range(144, 257, 16))


def test_dense_centre_clip_and_round_half_to_even():
    # One clip: mmaction2 >= 1.0 / EVL start max_offset // 2 = 187 // 2 = 93; 0.x int(173 / 2) = 86.
    assert DenseSampler(8, 16, "center")(info(300)).indices.tolist() == list(range(93, 206, 16))
    assert DenseSampler(8, 16, "center", convention="evl")(info(300)).indices[0] == 93
    assert DenseSampler(8, 16, "center", convention="mmaction2-0.x")(info(300)).indices[0] == 86
    assert DenseSampler(8, 16, "multi", 1)(info(300)).indices.tolist() == list(range(93, 206, 16))
    # 298 frames: max_offset 185, middle start 185/2 = 92.5 -> 92 (numpy / Python round half to even).
    assert [c[0] for c in clips_of(DenseSampler(8, 16, "multi", 3)(info(298)))] == [0, 92, 185]
    np.testing.assert_allclose(DenseSampler(8, 16, "center")(info(300)).timestamps,
                               np.arange(93, 206, 16) / 25.0)


def test_dense_train_start_ranges():
    def starts(sampler, n):
        return {int(sampler(info(n), rng=np.random.default_rng(s)).indices[0]) for s in range(2000)}

    # mmaction2 (both versions): window 8*16 = 128, start in [0, 300-128] = [0, 172].
    assert starts(DenseSampler(8, 16, "random"), 300) == set(range(173))
    assert starts(DenseSampler(8, 16, "random", convention="mmaction2-0.x"), 300) == set(range(173))
    # EVL / ST-Adapter: span 113, start in [0, 300-113] = [0, 187].
    assert starts(DenseSampler(8, 16, "random", convention="evl"), 300) == set(range(188))
    # At the edge: 128 frames leave one start (0), 129 two.
    assert starts(DenseSampler(8, 16, "random"), 128) == {0}
    assert starts(DenseSampler(8, 16, "random"), 129) == {0, 1}
    s1 = DenseSampler(8, 16, "random")(info(300), rng=np.random.default_rng(1)).indices
    assert np.all(np.diff(s1) == 16)
    assert s1.tolist() == DenseSampler(8, 16, "random")(info(300), rng=np.random.default_rng(1)).indices.tolist()


def test_dense_video_shorter_than_the_window():
    # 100 frames < span 113: every start is 0, frames 0, 16, ..., 112.
    # mmaction2 loops (112 mod 100 = 12), in every mode and both versions.
    looped = [0, 16, 32, 48, 64, 80, 96, 12]
    for convention in ("mmaction2", "mmaction2-0.x"):
        assert DenseSampler(8, 16, "random", convention=convention)(info(100), rng=0).indices.tolist() == looped
        assert DenseSampler(8, 16, "center", convention=convention)(info(100)).indices.tolist() == looped
        assert clips_of(DenseSampler(8, 16, "multi", 2, convention=convention)(info(100))) == [looped, looped]
    # EVL training repeats the last frame it sampled inside (96); its test pads with the last frame (99).
    evl = DenseSampler(8, 16, "random", convention="evl")(info(100), rng=0).indices.tolist()
    assert evl == [0, 16, 32, 48, 64, 80, 96, 96]
    padded = DenseSampler(8, 16, "center", convention="evl")(info(100)).indices.tolist()
    assert padded == [0, 16, 32, 48, 64, 80, 96, 99]


def test_dense_rejects_bad_arguments():
    with pytest.raises(ValueError, match="multi"):
        DenseSampler(8, mode="center", num_clips=2)
    with pytest.raises(ValueError):
        DenseSampler(0)
    with pytest.raises(ValueError, match="mode"):
        DenseSampler(8, mode="uniform")
    with pytest.raises(ValueError, match="convention must be one of mmaction2, mmaction2-0.x, evl"):
        DenseSampler(8, convention="slowfast")


def test_random_views_are_independent_draws_of_the_training_sampler():
    sampler = RandomViewsSampler(SegmentSampler(8, "train"), 3)
    a = sampler(info(250), rng=np.random.default_rng((0, 0, 5)))
    assert a.num_clips == 3 and a.indices.shape == (24,)
    # the same draws as three calls of the training sampler on one generator
    rng = np.random.default_rng((0, 0, 5))
    want = np.concatenate([SegmentSampler(8, "train")(info(250), rng).indices for _ in range(3)])
    assert a.indices.tolist() == want.tolist()
    views = a.indices.reshape(3, 8)
    assert not (views[0] == views[1]).all() and not (views[1] == views[2]).all()
    b = sampler(info(250), rng=np.random.default_rng((0, 0, 5)))
    assert b.indices.tolist() == a.indices.tolist()
    with pytest.raises(ValueError, match="one-clip"):
        RandomViewsSampler(DenseSampler(4, 2, "multi", 2), 2)(info(250), rng=0)


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
