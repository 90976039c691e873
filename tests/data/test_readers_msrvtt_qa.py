"""MSRVTT-QA reader: 0-based video ids (N -> videoN), question word as type."""

import json

import pytest

from vidlift.data.datasets import QUESTIONS, AnnotationError, DatasetConfig, read_msrvtt_qa


def test_zero_based_video_ids_and_types(tmp_path):
    (tmp_path / "videos").mkdir()
    for n in (0, 9999):
        (tmp_path / "videos" / f"video{n}.mp4").write_bytes(b"")
    items = [{"answer": "man", "id": 0, "question": "Who is talking?", "video_id": 0},
             {"answer": "road", "id": 1, "question": "where does a car drive?", "video_id": 9999},
             {"answer": "two", "id": 2, "question": "count the dogs", "video_id": "9999"}]
    (tmp_path / "test_qa.json").write_text(json.dumps(items))
    config = DatasetConfig({"format": "msrvtt_qa", "root": str(tmp_path), "test": "test_qa.json",
                            "video_root": "videos"}, "qa", QUESTIONS)
    qa = config.records("test")
    assert [(q.video_id, q.video_path.name, q.type) for q in qa] == [
        ("video0", "video0.mp4", "who"), ("video9999", "video9999.mp4", "where"), ("video9999", "video9999.mp4", None)]


def test_negative_video_id(tmp_path):
    path = tmp_path / "train_qa.json"
    path.write_text(json.dumps([{"answer": "man", "id": 0, "question": "who?", "video_id": -1}]))
    with pytest.raises(AnnotationError, match=r"train_qa.json:1: video_id -1 is negative"):
        read_msrvtt_qa(path)
