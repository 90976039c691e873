"""MSVD-QA reader: 1-based video ids mapped through youtube_mapping.txt (or plain vidN files),
question word as type; errors name file and line."""

import json

import pytest

from vidlift.data.datasets import QUESTIONS, AnnotationError, DatasetConfig, read_msvd_qa, read_youtube_mapping

ITEMS = [{"answer": "man", "id": 0, "question": "who is cutting a tomato?", "video_id": 1},
         {"answer": "slice", "id": 1, "question": "What does a man do to a tomato?", "video_id": 2},
         {"answer": "tomato", "id": 2, "question": "is there a tomato?", "video_id": 2}]
MAPPING = "-4wsuPCjDBc_5_15 vid1\n-7KMZQEsJW4_205_208 vid2\n\n-8y1Q0rA3n8_108_115 vid3\n"


@pytest.fixture
def root(tmp_path):
    (tmp_path / "test_qa.json").write_text(json.dumps(ITEMS, indent=1))
    (tmp_path / "youtube_mapping.txt").write_text(MAPPING)
    (tmp_path / "YouTubeClips").mkdir()
    for clip in ("-4wsuPCjDBc_5_15", "-7KMZQEsJW4_205_208"):
        (tmp_path / "YouTubeClips" / f"{clip}.avi").write_bytes(b"")
    return tmp_path


def test_one_based_ids_through_the_mapping(root):
    qa = read_msvd_qa(root / "test_qa.json", root / "YouTubeClips", video_map=root / "youtube_mapping.txt")
    # video_id 1 is vid1, the first clip of the mapping (MSRVTT-QA's 1 would be video1, its second video).
    assert [(q.qid, q.video_id, q.video_path.name, q.answer, q.type) for q in qa] == [
        ("0", "vid1", "-4wsuPCjDBc_5_15.avi", "man", "who"),
        ("1", "vid2", "-7KMZQEsJW4_205_208.avi", "slice", "what"),
        ("2", "vid2", "-7KMZQEsJW4_205_208.avi", "tomato", None)]
    assert qa[0].options == () and qa[0].answer_index is None and [q.line for q in qa] == [2, 8, 14]


def test_plain_vid_files_without_the_mapping(root):
    videos = root / "renamed"
    videos.mkdir()
    (videos / "vid1.mp4").write_bytes(b"")
    (videos / "vid2.mp4").write_bytes(b"")
    qa = read_msvd_qa(root / "test_qa.json", videos)
    assert [q.video_path.name for q in qa] == ["vid1.mp4", "vid2.mp4", "vid2.mp4"]


def test_mapping_file(root):
    assert read_youtube_mapping(root / "youtube_mapping.txt") == {
        "vid1": "-4wsuPCjDBc_5_15", "vid2": "-7KMZQEsJW4_205_208", "vid3": "-8y1Q0rA3n8_108_115"}
    path = root / "youtube_mapping.txt"
    path.write_text(MAPPING + "clip vid4 extra\n")
    with pytest.raises(AnnotationError, match=r"youtube_mapping.txt:5: expected '<youtube clip> vidN'"):
        read_youtube_mapping(path)
    path.write_text(MAPPING + "other vid2\n")
    with pytest.raises(AnnotationError, match=r"youtube_mapping.txt:5: vid2 mapped twice \(first on line 2\)"):
        read_youtube_mapping(path)


@pytest.mark.parametrize("change, message", [
    ({"video_id": 0}, "video_id should be a number N >= 1 (MSVD-QA's ids are 1-based, naming vidN), got 0"),
    ({"video_id": "clip"}, "video_id should be a number N >= 1"),
    ({"video_id": 9}, "vid9 is not in "),
    ({"id": 0}, "question id 0 used twice (first on line 2)"),
    ({"answer": None}, "missing key 'answer'"),
    ({"question": 3}, "'question' should be str, got 3"),
])
def test_errors_name_file_and_line(root, change, message):
    path = root / "test_qa.json"
    path.write_text(json.dumps([ITEMS[0], dict(ITEMS[1], **change)], indent=1))
    with pytest.raises(AnnotationError) as info:
        read_msvd_qa(path, video_map=root / "youtube_mapping.txt")
    assert str(info.value).startswith(f"{path}:8: ") and message in str(info.value)


def test_builds_through_the_registry(root):
    config = DatasetConfig({"format": "msvd_qa", "root": str(root), "test": "test_qa.json",
                            "video_root": "YouTubeClips", "video_map": "youtube_mapping.txt"}, "qa", QUESTIONS)
    qa = config.records("test")
    assert [q.video_path.name for q in qa] == ["-4wsuPCjDBc_5_15.avi"] + ["-7KMZQEsJW4_205_208.avi"] * 2
