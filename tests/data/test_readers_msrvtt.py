"""MSR-VTT readers: caption JSON, the 1k-A CSV, MSRVTT-QA; errors name file and line."""

import json

import pytest

from vidlift.data.datasets import AnnotationError, read_msrvtt, read_msrvtt_1ka, read_msrvtt_qa

INFO = {
    "info": {"year": "2016", "version": "1.0"},
    "videos": [
        {"category": 9, "url": "https://www.youtube.com/watch?v=9lZi22qLlEo", "video_id": "video0",
         "start time": 137.72, "end time": 149.44, "split": "train", "id": 0},
        {"category": 16, "url": "https://www.youtube.com/watch?v=w4JM08PDEng", "video_id": "video1",
         "start time": 184.33, "end time": 206.89, "split": "validate", "id": 1},
    ],
    "sentences": [
        {"caption": "a car is shown", "video_id": "video0", "sen_id": 1},
        {"caption": "a cartoon animals runs through an ice cave", "video_id": "video0", "sen_id": 0},
        {"caption": "a woman is talking", "video_id": "video1", "sen_id": 2},
    ],
}


@pytest.fixture
def root(tmp_path):
    (tmp_path / "videos").mkdir()
    for name in ("video0", "video1", "video7579"):
        (tmp_path / "videos" / f"{name}.mp4").write_bytes(b"")
    return tmp_path


def test_captions_grouped_per_video_in_sentence_order(root):
    path = root / "train_val_videodatainfo.json"
    path.write_text(json.dumps(INFO, indent=2))
    videos = read_msrvtt(path, root / "videos")
    assert [v.video_id for v in videos] == ["video0", "video1"]
    assert videos[0].captions == ("a cartoon animals runs through an ice cave", "a car is shown")
    assert videos[0].keys == ("0", "1") and videos[0].split == "train" and videos[0].category == 9
    assert (videos[0].start, videos[0].end) == (137.72, 149.44) and videos[0].video_path.name == "video0.mp4"
    assert [v.video_id for v in read_msrvtt(path, splits=["validate"])] == ["video1"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d["sentences"].append({"caption": "x", "video_id": "video9", "sen_id": 3}),
     "sentence of unknown video 'video9'"),
    (lambda d: d["sentences"].pop(), "video 'video1' has no sentences"),
    (lambda d: d["videos"][1].pop("split"), "missing key 'split'"),
    (lambda d: d["sentences"][0].update(caption=5), "'caption' should be str, got 5"),
])
def test_errors_name_the_line_of_the_entry(root, change, message):
    data = json.loads(json.dumps(INFO))
    change(data)
    path = root / "bad.json"
    text = json.dumps(data, indent=2)
    path.write_text(text)
    with pytest.raises(AnnotationError) as info:
        read_msrvtt(path)
    assert message in str(info.value)
    assert text.splitlines()[info.value.line - 1].strip() == "{"  # the line where the entry opens


def test_sentence_error_line_is_exact(root):
    path = root / "bad.json"
    path.write_text('{"videos": [\n{"video_id": "video0", "split": "train"}\n],\n"sentences": [\n'
                    '{"video_id": "video0", "caption": "ok"},\n{"video_id": "video3", "caption": "?"}\n]}')
    with pytest.raises(AnnotationError, match=r"bad.json:6: sentence of unknown video 'video3'"):
        read_msrvtt(path)
    path.write_text('{"videos": []}')
    with pytest.raises(AnnotationError, match=r"missing top-level key\(s\) \['sentences'\]"):
        read_msrvtt(path)


def test_jsfusion_csv(root):
    path = root / "MSRVTT_JSFUSION_test.csv"
    path.write_text("key,vid_key,video_id,sentence\n"
                    "ret0,msr7579,video7579,a person is connecting something to system\n")
    (query,) = read_msrvtt_1ka(path, root / "videos")
    assert query.keys == ("ret0",) and query.captions == ("a person is connecting something to system",)
    assert query.video_path.name == "video7579.mp4" and query.split == "test"
    path.write_text("key,vid_key,sentence\nret0,msr1,hello\n")
    with pytest.raises(AnnotationError, match=r"MSRVTT_JSFUSION_test.csv:1: missing column\(s\) \['video_id'\]"):
        read_msrvtt_1ka(path)


def test_msrvtt_qa(root):
    path = root / "train_qa.json"
    items = [{"answer": "man", "category_id": 9, "id": 0, "question": "who is talking?", "video_id": 0},
             {"answer": "cave", "id": 1, "question": "what does an animal run through?", "video_id": "video1"}]
    path.write_text(json.dumps(items))
    qa = read_msrvtt_qa(path, root / "videos")
    assert [(q.qid, q.video_id, q.answer, q.type) for q in qa] == [("0", "video0", "man", "who"),
                                                                   ("1", "video1", "cave", "what")]
    assert qa[0].options == () and qa[0].answer_index is None and qa[1].video_path.name == "video1.mp4"
    path.write_text(json.dumps(items + [dict(items[0])], indent=1))
    with pytest.raises(AnnotationError, match=r"train_qa.json:15: question id 0 used twice \(first on line 2\)"):
        read_msrvtt_qa(path)
