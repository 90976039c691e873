"""Window post-processing: stable ranking, clamping, rounding to the clip unit, temporal NMS."""

import pytest

from vidlift.tasks.grounding.postprocess import postprocess_windows, temporal_nms


def test_sorted_by_score_stable_for_ties():
    out = postprocess_windows([[0, 2, 0.5], [4, 6, 0.9], [8, 10, 0.5]], 20)
    assert out == [[4, 6, 0.9], [0, 2, 0.5], [8, 10, 0.5]]


def test_clamp_to_the_video():
    assert postprocess_windows([[-3, 5, 1.0], [2, 30, 0.5]], 20) == [[0, 5, 1.0], [2, 20, 0.5]]
    assert postprocess_windows([[-3, 5, 1.0]], 20, clamp=False) == [[-3, 5, 1.0]]


def test_round_to_clip():
    # 3.1 / 2 -> 1.55 -> 2 clips = 4 s; 6.9 / 2 -> 3.45 -> 3 clips = 6 s.
    assert postprocess_windows([[3.1, 6.9, 1.0]], 20, round_to_clip=True) == [[4, 6, 1.0]]
    # Halves to even, as torch.round in Moment-DETR: 1 / 2 = 0.5 -> 0, 5 / 2 = 2.5 -> 2.
    assert postprocess_windows([[1, 5, 1.0]], 20, round_to_clip=True) == [[0, 4, 1.0]]
    # A 1 s clip unit.
    assert postprocess_windows([[3.4, 6.6, 1.0]], 20, clip_length=1.0, round_to_clip=True) == [[3, 7, 1.0]]


def test_round_to_clip_never_gives_an_empty_window():
    # [3.1, 3.9] rounds to [4, 4]: replaced by the clip holding its centre 3.5, [2, 4].
    assert postprocess_windows([[3.1, 3.9, 1.0]], 20, round_to_clip=True) == [[2, 4, 1.0]]
    # Last, partial clip of a 9 s video: [8.2, 9] rounds to [8, 8] -> clip 4 = [8, 10] cut to [8, 9].
    assert postprocess_windows([[8.2, 9.0, 1.0]], 9, round_to_clip=True) == [[8, 9, 1.0]]
    # An end rounded past the duration is clamped again: 9.5 / 2 = 4.75 -> 10 s -> 9.5.
    assert postprocess_windows([[6, 9.5, 1.0]], 9.5, round_to_clip=True) == [[6, 9.5, 1.0]]
    # A window at the very end of the video: [10, 10] stays inside, the last clip [8, 10].
    assert postprocess_windows([[10, 10, 1.0]], 10, round_to_clip=True) == [[8, 10, 1.0]]


def test_temporal_nms():
    # IoU([1, 10], [0, 10]) = 0.9 and IoU([0, 9], [0, 10]) = 0.9 > 0.5: dropped; [20, 30] kept.
    windows = [[0, 10, 0.9], [1, 10, 0.8], [20, 30, 0.7], [0, 9, 0.6]]
    assert postprocess_windows(windows, 40, nms_threshold=0.5) == [[0, 10, 0.9], [20, 30, 0.7]]
    assert len(postprocess_windows(windows, 40)) == 4  # no NMS unless asked
    # IoU exactly at the threshold is kept (only "above" suppresses, as Moment-DETR).
    assert temporal_nms([[0, 10, 0.9], [5, 10, 0.8]], 0.5) == [[0, 10, 0.9], [5, 10, 0.8]]
    # NMS sees the rounded windows: [0.9, 4.2] and [0.6, 3.9] both become [0, 4] -> IoU 1.
    out = postprocess_windows([[0.9, 4.2, 0.9], [0.6, 3.9, 0.8]], 20, round_to_clip=True, nms_threshold=0.7)
    assert out == [[0, 4, 0.9]]


def test_max_windows_after_nms():
    # Twelve windows, every other one a near copy: NMS leaves six, all kept with max_windows=6;
    # without NMS the cut keeps the six best-scored whatever their overlap.
    windows = []
    for i in range(6):
        windows += [[10 * i, 10 * i + 8, 1.0 - 0.1 * i], [10 * i, 10 * i + 7.9, 0.95 - 0.1 * i]]
    out = postprocess_windows(windows, 100, nms_threshold=0.5, max_windows=6)
    assert [w[0] for w in out] == [0, 10, 20, 30, 40, 50]
    out = postprocess_windows(windows, 100, max_windows=6)
    assert [w[0] for w in out] == [0, 0, 10, 10, 20, 20]


@pytest.mark.parametrize("windows, duration, kwargs, message", [
    ([[5, 1, 1.0]], 10, {}, "ends before it starts"),
    ([[0, 1]], 10, {}, r"\[start, end, score\]"),
    ([[0, float("nan"), 1.0]], 10, {}, "finite"),
    ([[0, 1, 1.0]], 0, {}, "duration"),
    ([[0, 1, 1.0]], 10, {"clip_length": 0}, "clip_length"),
    ([[0, 1, 1.0]], 10, {"nms_threshold": 1.5}, "nms_threshold"),
    ([[0, 1, 1.0]], 10, {"max_windows": 0}, "max_windows"),
])
def test_bad_input_is_refused(windows, duration, kwargs, message):
    with pytest.raises(ValueError, match=message):
        postprocess_windows(windows, duration, **kwargs)
