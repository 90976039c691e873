"""MSRVTT-MC reader: both circulating copies (ClipBERT JSONL, Singularity JSON array), answers
as index, digit string or text; errors name file and line."""

import json

import pytest

from vidlift.data.datasets import QUESTIONS, AnnotationError, DatasetConfig, read_msrvtt_mc

OPTIONS = ["a man is singing on stage", "a cat plays with a ball", "people are cooking",
           "a car drives on a road", "a woman reads a book"]


def _jsonl(path, *items):
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return path


def test_clipbert_jsonl(tmp_path):
    (tmp_path / "videos").mkdir()
    for n in (7020, 7021):
        (tmp_path / "videos" / f"video{n}.mp4").write_bytes(b"")
    path = _jsonl(tmp_path / "msrvtt_mc_test.jsonl",
                  {"qid": "msrvtt_mc_test-0", "clip_name": "video7020", "options": OPTIONS, "answer": 2},
                  {"qid": "msrvtt_mc_test-1", "clip_name": "video7021", "options": OPTIONS, "answer": "4"})
    qa = read_msrvtt_mc(path, tmp_path / "videos")
    assert [(q.qid, q.video_id, q.answer_index, q.answer, q.question, q.line) for q in qa] == [
        ("msrvtt_mc_test-0", "video7020", 2, "people are cooking", "", 1),
        ("msrvtt_mc_test-1", "video7021", 4, "a woman reads a book", "", 2)]
    assert qa[0].options == tuple(OPTIONS) and qa[1].video_path.name == "video7021.mp4"


def test_singularity_json_array(tmp_path):
    path = tmp_path / "msrvtt_mc_test.json"
    path.write_text(json.dumps([{"video": "video7020.mp4", "caption": OPTIONS, "answer": 0},
                                {"video": "video7021.mp4", "caption": OPTIONS, "answer": "a cat plays with a ball"}],
                               indent=1))
    qa = read_msrvtt_mc(path)
    # indent=1: "[" on line 1, the first entry's "{" on 2, its five captions on 5-9, the second "{" on 13.
    assert [(q.qid, q.video_id, q.answer_index, q.line) for q in qa] == [("0", "video7020", 0, 2),
                                                                          ("1", "video7021", 1, 13)]


@pytest.mark.parametrize("change, message", [
    ({"answer": 5}, "answer 5 is not an option index (0-4)"),
    ({"answer": "a dog"}, "answer 'a dog' is neither an option index nor an option"),
    ({"answer": None}, "missing key 'answer'"),
    ({"clip_name": None}, "missing key 'clip_name' or 'video'"),
    ({"options": OPTIONS[:1]}, "options should be two or more non-empty captions"),
    ({"options": OPTIONS[:4] + [""]}, "options should be two or more non-empty captions"),
    ({"options": "one caption"}, "'options' should be list"),
    ({"qid": "q0"}, "qid q0 used twice (first on line 1)"),
])
def test_errors_name_file_and_line(tmp_path, change, message):
    good = {"qid": "q0", "clip_name": "video7020", "options": OPTIONS, "answer": 1}
    second = dict(good, qid="q1")
    second.update(change)
    path = _jsonl(tmp_path / "mc.jsonl", good, second)
    with pytest.raises(AnnotationError) as info:
        read_msrvtt_mc(path)
    assert str(info.value).startswith(f"{path}:2: ") and message in str(info.value)


def test_builds_through_the_registry(tmp_path):
    _jsonl(tmp_path / "msrvtt_mc_test.jsonl", {"qid": 0, "clip_name": "video7020", "options": OPTIONS, "answer": 3})
    config = DatasetConfig({"format": "msrvtt_mc", "root": str(tmp_path), "test": "msrvtt_mc_test.jsonl"},
                           "qa", QUESTIONS)
    (q,) = config.records("predict")
    assert (q.qid, q.answer, q.options[q.answer_index]) == ("0", "a car drives on a road", "a car drives on a road")
