"""TACoS reader: frames converted with the file's fps, windows clipped to num_frames / fps, empty
ones dropped with a warning, videos with or without their extension; errors name file and line."""

import json
import logging

import pytest

from vidlift.data.datasets import MOMENT_QUERIES, AnnotationError, DatasetConfig, read_tacos

DATA = {
    "s30-d52.avi": {"timestamps": [[141, 354], [0, 147]], "sentences": ["She took out kiwi", " She washed it. "],
                    "fps": 29.4, "num_frames": 7346},
    "s13-d21.avi": {"timestamps": [[50, 150], [200, 260], [240, 260]], "sentences": ["a", "b", "c"],
                    "fps": 25, "num_frames": 250},
}


def _dump(data):
    """One video per line: the i-th video's key is on line i + 2."""
    return "{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()) + "\n}\n"


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "test.json"
    p.write_text(_dump(DATA))
    return p


def test_frames_to_seconds(path, caplog):
    videos = path.parent / "videos"
    videos.mkdir()
    (videos / "s30-d52.avi").write_bytes(b"")  # as released
    (videos / "s13-d21.mp4").write_bytes(b"")  # re-encoded
    with caplog.at_level(logging.WARNING):
        queries = read_tacos(path, videos)
    assert [(q.qid, q.video_id, q.query, q.line) for q in queries] == [
        ("s30-d52_0", "s30-d52", "She took out kiwi", 2), ("s30-d52_1", "s30-d52", "She washed it.", 2),
        ("s13-d21_0", "s13-d21", "a", 3), ("s13-d21_1", "s13-d21", "b", 3), ("s13-d21_2", "s13-d21", "c", 3)]
    # 141 / 29.4 = 4.7959 s (lighthouse's converted copy holds 4.795918367346939), 7346 / 29.4 = 249.864 s.
    assert queries[0].relevant_windows == ((141 / 29.4, 354 / 29.4),)
    assert queries[0].duration == pytest.approx(249.8639455782313)
    # 250 frames at 25 fps = 10 s: frames 200-260 are 8-10.4 s, clipped to 8-10 s.
    assert queries[2].relevant_windows == ((2.0, 6.0),) and queries[3].relevant_windows == ((8.0, 10.0),)
    assert queries[3].duration == 10.0 and queries[3].clip_length == 2.0
    assert queries[4].relevant_windows == ((9.6, 10.0),)  # frames 240-260: 9.6-10.4 s, clipped
    assert [q.video_path.name for q in queries] == ["s30-d52.avi"] * 2 + ["s13-d21.mp4"] * 3
    assert "dropped" not in caplog.text


def test_window_past_the_end_is_dropped_with_a_warning(path, caplog):
    data = json.loads(json.dumps(DATA))
    data["s13-d21.avi"]["timestamps"][2] = [250, 300]  # 10-12 s in a 10 s video
    path.write_text(_dump(data))
    with caplog.at_level(logging.WARNING):
        queries = read_tacos(path, clip_length=1.0)
    assert [q.qid for q in queries] == ["s30-d52_0", "s30-d52_1", "s13-d21_0", "s13-d21_1"]
    assert "dropped 1 of 5 entries whose window is empty" in caplog.text
    assert f"{path}:3 (s13-d21.avi sentence 2)" in caplog.text
    assert queries[0].clip_length == 1.0


@pytest.mark.parametrize("change, message", [
    (lambda v: v.pop("fps"), "missing key 'fps'"),
    (lambda v: v.update(fps=0), "s13-d21.avi: fps and num_frames must be positive, got 0 and 250"),
    (lambda v: v.update(num_frames="250"), "'num_frames' should be int or float, got '250'"),
    (lambda v: v["sentences"].pop(), "s13-d21.avi: 2 sentences but 3 timestamps"),
    (lambda v: v["sentences"].__setitem__(1, "  "), "sentence 1 should be a non-empty str, got '  '"),
    (lambda v: v["timestamps"].__setitem__(0, [50]), "timestamp 0 should be [start, end] frames, got [50]"),
    (lambda v: v["timestamps"].__setitem__(0, [50, None]), "timestamp 0 should be [start, end] frames"),
])
def test_errors_name_the_line_of_the_video(path, change, message):
    data = json.loads(json.dumps(DATA))
    change(data["s13-d21.avi"])
    path.write_text(_dump(data))
    with pytest.raises(AnnotationError) as info:
        read_tacos(path)
    assert str(info.value).startswith(f"{path}:3: ") and message in str(info.value)


def test_malformed_json(path):
    path.write_text('{\n"s1.avi": {"fps": 25,\n}')
    with pytest.raises(AnnotationError, match=r"test.json:3: malformed JSON"):
        read_tacos(path)
    path.write_text("[]")
    with pytest.raises(AnnotationError, match=r"test.json: expected a JSON object"):
        read_tacos(path)


def test_builds_through_the_registry(path):
    config = DatasetConfig({"format": "tacos", "root": str(path.parent), "test": "test.json", "clip_length": 1},
                           "grounding", MOMENT_QUERIES)
    assert not config.has_split("train") and config.has_split("predict")
    queries = config.records("test")
    assert len(queries) == 5 and queries[4].relevant_windows == ((9.6, 10.0),) and queries[4].clip_length == 1.0
