"""QVHighlights metrics on hand-built cases; each expected value is worked out in the comments.

VOC AP reminder: precision/recall after each ranked window, precision made monotone from the
right, AP = sum over recall steps of (step width) x (interpolated precision).
"""

import math

import pytest

from vidlift.tasks.grounding.metrics import (
    IOU_THRESHOLDS,
    R1_THRESHOLDS,
    detection_ap,
    qvhighlights_metrics,
    saliency_ap,
    temporal_iou,
)


def gt(qid, windows, duration=150, ids=(), scores=()):
    return {"qid": qid, "query": "q", "duration": duration, "vid": f"v{qid}", "relevant_windows": windows,
            "relevant_clip_ids": list(ids), "saliency_scores": [list(s) for s in scores]}


def pred(qid, windows, saliency=None):
    d = {"qid": qid, "query": "q", "vid": f"v{qid}", "pred_relevant_windows": windows}
    if saliency is not None:
        d["pred_saliency_scores"] = saliency
    return d


def test_thresholds_are_the_official_ones():
    assert IOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    assert R1_THRESHOLDS[0] == 0.3 and R1_THRESHOLDS[1:] == IOU_THRESHOLDS


def test_temporal_iou():
    assert temporal_iou([0, 10], [5, 15]) == pytest.approx(5 / 15)
    assert temporal_iou([0, 10], [10, 20]) == 0.0  # touching: no overlap
    assert temporal_iou([3, 3], [3, 3]) == 0.0  # two empty windows: defined as 0, not NaN


def test_partial_overlap_splits_the_thresholds():
    # IoU([0, 7], [0, 10]) = 7 / 10 = 0.7: R1 hits at 0.3 ... 0.7 (>=), misses from 0.75; AP is 1
    # at the 5 thresholds 0.5 ... 0.7 and 0 at the 5 others -> mAP 50; mIoU 70.
    m = qvhighlights_metrics([pred(1, [[0, 7, 1.0]])], [gt(1, [[0, 10]])])
    assert [m[f"MR-full-R1@{t}"] for t in R1_THRESHOLDS] == [100.0] * 6 + [0.0] * 5
    assert m["MR-full-mAP@0.7"] == 100.0 and m["MR-full-mAP@0.75"] == 0.0
    assert m["MR-full-mAP"] == pytest.approx(50.0)
    assert m["MR-full-mIoU"] == pytest.approx(70.0)


def test_score_ties_keep_the_listed_order():
    # GT [10, 20]. Windows A = [0, 5] (miss, 0.9), then B = [10, 20] (hit) and C = [30, 40] (miss),
    # both 0.5. Listed A, B, C: precision 0, 1/2, 1/3 at recall 0, 1, 1 -> AP = 1 x 1/2 = 0.5.
    # Listed A, C, B: precision 0, 0, 1/3, recall reaches 1 at the third -> AP = 1/3.
    a, b, c = [0, 5, 0.9], [10, 20, 0.5], [30, 40, 0.5]
    assert detection_ap([a, b, c], [[10, 20]]) == pytest.approx([0.5] * 10)
    assert detection_ap([a, c, b], [[10, 20]]) == pytest.approx([1 / 3] * 10)


def test_several_ground_truth_windows_and_duplicates():
    g = [[0, 10], [20, 30]]
    # Both found, then a duplicate of the first: precision 1, 1, 2/3 at recall 1/2, 1, 1
    # -> AP = 1/2 x 1 + 1/2 x 1 = 1 (the duplicate comes after full recall).
    assert detection_ap([[0, 10, 0.9], [20, 30, 0.8], [0, 10, 0.7]], g) == pytest.approx([1.0] * 10)
    # The duplicate ranked second finds its window taken: precision 1, 1/2, 2/3 at recall 1/2,
    # 1/2, 1 -> AP = 1/2 x 1 + 1/2 x 2/3 = 5/6.
    assert detection_ap([[0, 10, 0.9], [0, 10, 0.8], [20, 30, 0.7]], g) == pytest.approx([5 / 6] * 10)
    # R1 compares the first window with the best-matching window, not the first one: IoU 1.
    m = qvhighlights_metrics([pred(1, [[20, 30, 0.9]])], [gt(1, g)])
    assert m["MR-full-R1@0.95"] == 100.0 and m["MR-full-mIoU"] == pytest.approx(100.0)
    # ... while its AP has recall 1/2 only: AP = 1/2 x 1.
    assert m["MR-full-mAP"] == pytest.approx(50.0)


def test_equal_iou_takes_the_later_ground_truth_window():
    # GT A = [2, 6], B = [4, 8]; window [4, 6] has IoU 2/4 = 0.5 with both, window [2, 6] IoU 1
    # with A and 2/6 with B. At t = 0.5 the first takes B (the later one on a tie), the second A:
    # AP 1. From 0.55 the first misses, the second takes A: precision 0, 1/2 at recall 0, 1/2
    # -> AP = 1/2 x 1/2 = 0.25. mAP = (1 + 9 x 0.25) / 10 = 0.325. (Taking A on the tie
    # would leave the second window unmatched at 0.5: AP 0.5 there.)
    aps = detection_ap([[4, 6, 0.9], [2, 6, 0.8]], [[2, 6], [4, 8]])
    assert aps == pytest.approx([1.0] + [0.25] * 9)
    m = qvhighlights_metrics([pred(1, [[4, 6, 0.9], [2, 6, 0.8]])], [gt(1, [[2, 6], [4, 8]])])
    assert m["MR-full-mAP"] == pytest.approx(32.5)


def test_a_correct_eleventh_window_is_ignored():
    # Ten misses, then the exact window with the best score: only the first 10 as listed count,
    # so AP = 0; R1 looks at the first window only: 0. With max_windows=11 it ranks first: AP 1.
    windows = [[2 * i, 2 * i + 1, 0.5] for i in range(10)] + [[50, 60, 1.0]]
    m = qvhighlights_metrics([pred(1, windows)], [gt(1, [[50, 60]])])
    assert m["MR-full-mAP"] == 0.0 and m["MR-full-R1@0.5"] == 0.0
    m11 = qvhighlights_metrics([pred(1, windows)], [gt(1, [[50, 60]])], max_windows=11)
    assert m11["MR-full-mAP"] == pytest.approx(100.0)
    assert m11["MR-full-R1@0.5"] == 0.0  # still the first listed window


def test_unsorted_list_r1_uses_the_first_listed_window():
    # Listed [0, 5] (score 0.1) then [10, 20] (0.9): R1 and mIoU use [0, 5] -> 0; mAP sorts by
    # score, the hit ranks first -> AP 1.
    m = qvhighlights_metrics([pred(1, [[0, 5, 0.1], [10, 20, 0.9]])], [gt(1, [[10, 20]])])
    assert m["MR-full-R1@0.3"] == 0.0 and m["MR-full-mIoU"] == 0.0
    assert m["MR-full-mAP"] == pytest.approx(100.0)


def test_query_without_windows_and_missing_query_count_as_misses():
    # q1 perfect, q2 nothing: every MR mean is (1 + 0) / 2 (the official code crashes in R1 and
    # would drop q2 from the mAP mean, giving 100).
    truth = [gt(1, [[10, 20]]), gt(2, [[30, 40]])]
    for sub in ([pred(1, [[10, 20, 1.0]]), pred(2, [])], [pred(1, [[10, 20, 1.0]])]):
        m = qvhighlights_metrics(sub, truth)
        assert m["MR-full-mAP"] == pytest.approx(50.0)
        assert m["MR-full-R1@0.7"] == pytest.approx(50.0)
        assert m["MR-full-mIoU"] == pytest.approx(50.0)
        assert m["num_queries"] == 2
    assert m["num_missing"] == 1


def test_length_buckets():
    # q1: windows of 8 s (short) and 40 s (long); q2: exactly 10 s -> short ((0, 10]).
    # Prediction of q1 is the long window. full: R1 hit (best window), AP 1/2 (recall 1/2);
    # short: q1 scored against [0, 8] only -> miss; q2 hit -> short means (0 + 1) / 2;
    # long: q1 hit; middle: empty -> NaN (the official code crashes).
    truth = [gt(1, [[0, 8], [20, 60]]), gt(2, [[30, 40]])]
    sub = [pred(1, [[20, 60, 0.9]]), pred(2, [[30, 40, 0.9]])]
    m = qvhighlights_metrics(sub, truth)
    assert m["MR-full-num_queries"] == 2 and m["MR-short-num_queries"] == 2
    assert m["MR-long-num_queries"] == 1 and m["MR-middle-num_queries"] == 0
    assert m["MR-full-mAP"] == pytest.approx((50 + 100) / 2)
    assert m["MR-full-R1@0.5"] == pytest.approx(100.0)
    assert m["MR-short-mAP"] == pytest.approx(50.0) and m["MR-short-R1@0.5"] == pytest.approx(50.0)
    assert m["MR-long-mAP"] == pytest.approx(100.0)
    assert all(math.isnan(m[k]) for k in m if k.startswith("MR-middle-") and not k.endswith("num_queries"))


# Highlight detection: a 10 s video = 5 clips of 2 s; clips 0-2 scored by 3 annotators.
SALIENCY_GT = gt(1, [[0, 6]], duration=10, ids=[0, 1, 2], scores=[[4, 2, 0], [4, 4, 3], [1, 3, 4]])


def test_highlight_metrics_per_annotator():
    # Predicted order: clip 0 (0.9), 2, 3, 4, 1 (0.1).
    # VeryGood (>= 4): annotator 0 positives {0, 1}: precision 1 at recall 1/2, then 2/5 at 1
    #   -> AP (1 + 0.4) / 2 = 0.7; annotator 1 {1}: 1/5 = 0.2; annotator 2 {2}: 1/2.
    #   mAP = (0.7 + 0.2 + 0.5) / 3; Hit1: clip 0 is >= 4 for annotator 0 -> 1.
    # Good (>= 3): a0 {0, 1} 0.7; a1 and a2 {1, 2}: 1/2 at recall 1/2, 2/5 at 1 -> 0.45 each.
    # Fair (>= 2): a0 0.7; a1 {0, 1, 2}: 1, 1, 3/5 -> 2.6 / 3; a2 {1, 2}: 0.45.
    m = qvhighlights_metrics([pred(1, [[0, 6, 1.0]], [0.9, 0.1, 0.5, 0.3, 0.2])], [SALIENCY_GT])
    assert m["HL-min-VeryGood-mAP"] == pytest.approx(100 * 1.4 / 3)
    assert m["HL-min-Good-mAP"] == pytest.approx(100 * 1.6 / 3)
    assert m["HL-min-Fair-mAP"] == pytest.approx(100 * (0.7 + 2.6 / 3 + 0.45) / 3)
    assert m["HL-min-VeryGood-Hit1"] == m["HL-min-Fair-Hit1"] == 100.0


def test_highlight_all_zero_saliency_and_ties():
    # All scores equal: one threshold holding every clip: AP = positives / 5 per annotator:
    # VeryGood (2 + 1 + 1) / 15; Hit1 takes the first clip (0), positive for annotator 0.
    m = qvhighlights_metrics([pred(1, [[0, 6, 1.0]], [0.0] * 5)], [SALIENCY_GT])
    assert m["HL-min-VeryGood-mAP"] == pytest.approx(100 * 4 / 15)
    assert m["HL-min-VeryGood-Hit1"] == 100.0
    # Tied scores count as one threshold: positive clip 2 tied with two negatives at 0, after two
    # negatives at 0.5 -> precision 1/5 at recall 1 -> 0.2 (not 1/3 as a tie broken in its favour).
    assert saliency_ap([False, False, True, False, False], [0.5, 0.5, 0.0, 0.0, 0.0]) == pytest.approx(0.2)
    assert saliency_ap([False] * 3, [1, 2, 3]) == 0.0 and saliency_ap([True] * 3, [3, 2, 1]) == 1.0


def test_highlight_hit_misses_and_padding():
    # Top clip 4: no annotator scores it -> Hit1 0. A prediction past the video's 5 clips
    # (index 6) is a miss; scores are cut to 5 clips for AP (clip 0 first).
    m = qvhighlights_metrics([pred(1, [[0, 6, 1.0]], [0, 0, 0, 0, 1.0])], [SALIENCY_GT])
    assert m["HL-min-Fair-Hit1"] == 0.0
    m = qvhighlights_metrics([pred(1, [[0, 6, 1.0]], [0.9, 0, 0, 0, 0, 0, 1.0])], [SALIENCY_GT])
    assert m["HL-min-Fair-Hit1"] == 0.0
    # Three scores for five clips: zero-padded, so clips 3, 4 tie with clips 1, 2 at 0.
    # VeryGood a1 {1}: clip 0 (0.9) then the four tied -> precision 1/5 -> 0.2.
    short = qvhighlights_metrics([pred(1, [[0, 6, 1.0]], [0.9, 0.0, 0.0])], [SALIENCY_GT])
    padded = qvhighlights_metrics([pred(1, [[0, 6, 1.0]], [0.9, 0.0, 0.0, 0.0, 0.0])], [SALIENCY_GT])
    assert short["HL-min-VeryGood-mAP"] == padded["HL-min-VeryGood-mAP"]
    # An empty saliency list (the official code crashes): 0 on both.
    m = qvhighlights_metrics([pred(1, [[0, 6, 1.0]], [])], [SALIENCY_GT])
    assert m["HL-min-Fair-mAP"] == 0.0 and m["HL-min-Fair-Hit1"] == 0.0


def test_families_appear_only_when_predicted():
    only_windows = qvhighlights_metrics([pred(1, [[0, 6, 1.0]])], [SALIENCY_GT])
    assert "MR-full-mAP" in only_windows and not any(k.startswith("HL-") for k in only_windows)
    only_saliency = qvhighlights_metrics([{"qid": 1, "pred_saliency_scores": [1, 0, 0, 0, 0]}], [SALIENCY_GT])
    assert "HL-min-VeryGood-mAP" in only_saliency and not any(k.startswith("MR-") for k in only_saliency)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="not in the ground truth"):
        qvhighlights_metrics([pred(9, [[0, 1, 1.0]])], [gt(1, [[0, 10]])])
    with pytest.raises(ValueError, match="appears twice"):
        qvhighlights_metrics([pred(1, [[0, 1, 1.0]]), pred(1, [])], [gt(1, [[0, 10]])])
    with pytest.raises(ValueError, match="ends before it starts"):
        qvhighlights_metrics([pred(1, [[5, 1, 1.0]])], [gt(1, [[0, 10]])])
    with pytest.raises(ValueError, match="no relevant_windows"):
        qvhighlights_metrics([pred(1, [[0, 1, 1.0]])], [gt(1, [])])
