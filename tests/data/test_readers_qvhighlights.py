"""QVHighlights reader: windows, clip ids, saliency; errors name file and line."""

import json

import pytest

from vidlift.data.datasets import AnnotationError, MissingVideosError, read_qvhighlights

QUERY = {"qid": 8737, "query": "A family is playing basketball together on a green court outside.",
         "duration": 126, "vid": "bP5KfdFJzC4_660.0_810.0", "relevant_windows": [[0, 16]],
         "relevant_clip_ids": [0, 1, 2, 3, 4, 5, 6, 7],
         "saliency_scores": [[4, 1, 1], [4, 1, 1], [4, 2, 1], [4, 3, 2], [4, 3, 2], [4, 3, 3], [4, 3, 3], [4, 3, 2]]}


def _write(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_reads_a_release_line(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "bP5KfdFJzC4_660.0_810.0.mp4").write_bytes(b"")
    (q,) = read_qvhighlights(_write(tmp_path / "highlight_val_release.jsonl", QUERY), tmp_path / "videos")
    assert q.qid == 8737 and q.duration == 126.0 and q.relevant_windows == ((0.0, 16.0),)
    assert q.relevant_clip_ids == tuple(range(8)) and q.saliency_scores[2] == (4, 2, 1)
    assert q.video_path.name == "bP5KfdFJzC4_660.0_810.0.mp4" and q.clip_length == 2.0


def test_test_release_has_no_labels(tmp_path):
    test = {k: QUERY[k] for k in ("qid", "query", "duration", "vid")}
    (q,) = read_qvhighlights(_write(tmp_path / "highlight_test_release.jsonl", test))
    assert q.relevant_windows == () and q.relevant_clip_ids == () and q.saliency_scores == ()


@pytest.mark.parametrize("change, message", [
    ({"relevant_windows": [[120, 130]]}, "window [120, 130] is not inside the video's duration [0, 126]"),
    ({"relevant_windows": [[10, 4]]}, "window [10, 4] is not inside"),
    ({"relevant_windows": [[1, 2, 3]]}, "a window should be [start, end] in seconds"),
    ({"relevant_clip_ids": [0, 63], "saliency_scores": [[1, 1, 1], [1, 1, 1]]}, "clip id 63 outside the 63 clips"),
    ({"saliency_scores": [[4, 1, 1]]}, "1 saliency scores for 8 relevant clips"),
    ({"relevant_clip_ids": [0], "saliency_scores": [[5, 1, 1]]}, "saliency scores should be lists of integers 0-4"),
    ({"duration": "long"}, "'duration' should be int or float"),
    ({"qid": None}, "missing key 'qid'"),
])
def test_errors_name_file_and_line(tmp_path, change, message):
    good = dict(QUERY, qid=1)
    path = _write(tmp_path / "q.jsonl", good, dict(QUERY, **change))
    with pytest.raises(AnnotationError) as info:
        read_qvhighlights(path)
    assert str(info.value).startswith(f"{path}:2: ") and message in str(info.value)


def test_malformed_line_and_repeated_qid(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(QUERY) + "\n\n{\"qid\": 2, \"query\": \n")
    with pytest.raises(AnnotationError, match=r"q.jsonl:3: malformed JSON line"):
        read_qvhighlights(path)
    _write(path, QUERY, QUERY)
    with pytest.raises(AnnotationError, match=r"q.jsonl:2: qid 8737 used twice \(first on line 1\)"):
        read_qvhighlights(path)


def test_missing_videos(tmp_path):
    (tmp_path / "videos").mkdir()
    path = _write(tmp_path / "q.jsonl", QUERY)
    with pytest.raises(MissingVideosError, match=r"1 of 1 videos \(100.0%\) not found"):
        read_qvhighlights(path, tmp_path / "videos")
    assert len(read_qvhighlights(path, tmp_path / "videos", max_missing_ratio=1.0).missing) == 1
