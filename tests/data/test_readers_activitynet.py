"""ActivityNet Captions reader: paragraph and per-sentence records, grounding queries with the
val_1/val_2 naming, errors naming file and line."""

import json
import logging

import pytest

from vidlift.data.datasets import (
                                   MOMENT_QUERIES,
                                   AnnotationError,
                                   DatasetConfig,
                                   MissingVideosError,
                                   read_activitynet_captions,
                                   read_activitynet_grounding,
)

DATA = {
    "v_QOlSCBRmfWY": {"duration": 82.73, "timestamps": [[0.83, 19.86], [17.37, 60.81], [56.26, 79.42]],
                      "sentences": ["A young woman is seen standing in a room.",
                                    " The girl dances around the room.", " She ends by bowing.  "]},
    "v_ehGHCYKzyZ8": {"duration": 61.72, "timestamps": [[0, 14.1], [14.1, 62.5]],
                      "sentences": ["Two men stand on a field.", " They throw a frisbee."]},
    "v_nwznKOuZM7w": {"duration": 30.0, "timestamps": [[2.0, 9.5]], "sentences": ["A dog catches a ball."]},
}


def _dump(data):
    """As released, but one video per line: the i-th video's key is on line i + 2."""
    return "{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()) + "\n}\n"


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "val_1.json"
    path.write_text(_dump(DATA))
    videos = tmp_path / "videos"
    (videos / "v1-2").mkdir(parents=True)
    (videos / "v1-2" / "v_QOlSCBRmfWY.mp4").write_bytes(b"")  # the ActivityNet download
    (videos / "v_ehGHCYKzyZ8.mkv").write_bytes(b"")
    (videos / "nwznKOuZM7w.mp4").write_bytes(b"")  # CLIP4Clip's naming, without "v_"
    return path, videos


def test_paragraph_per_video(root):
    path, videos = root
    records = read_activitynet_captions(path, videos)
    assert [(r.video_id, r.split, r.line) for r in records] == [
        ("v_QOlSCBRmfWY", "val_1", 2), ("v_ehGHCYKzyZ8", "val_1", 3), ("v_nwznKOuZM7w", "val_1", 4)]
    assert records[0].captions == ("A young woman is seen standing in a room. The girl dances around the room. "
                                   "She ends by bowing.",)
    assert all(r.start is None and r.end is None and len(r.captions) == 1 for r in records)
    assert [r.video_path.name for r in records] == ["v_QOlSCBRmfWY.mp4", "v_ehGHCYKzyZ8.mkv", "nwznKOuZM7w.mp4"]
    assert records.missing == ()


def test_sentences_with_times_clipped_to_the_duration(root):
    path, _ = root
    moments = read_activitynet_captions(path, paragraph=False)
    assert [(m.video_id, m.captions[0], m.start, m.end, m.keys, m.line) for m in moments] == [
        ("v_QOlSCBRmfWY", "A young woman is seen standing in a room.", 0.83, 19.86, ("0",), 2),
        ("v_QOlSCBRmfWY", "The girl dances around the room.", 17.37, 60.81, ("1",), 2),
        ("v_QOlSCBRmfWY", "She ends by bowing.", 56.26, 79.42, ("2",), 2),
        ("v_ehGHCYKzyZ8", "Two men stand on a field.", 0.0, 14.1, ("0",), 3),
        ("v_ehGHCYKzyZ8", "They throw a frisbee.", 14.1, 61.72, ("1",), 3),  # 62.5 is past the 61.72 s video
        ("v_nwznKOuZM7w", "A dog catches a ball.", 2.0, 9.5, ("0",), 4)]
    assert all(m.video_path is None for m in moments)


@pytest.mark.parametrize("change, message", [
    (lambda v: v.pop("duration"), "missing key 'duration'"),
    (lambda v: v.update(duration="61.72"), "'duration' should be int or float, got '61.72'"),
    (lambda v: v.update(duration=0), "v_ehGHCYKzyZ8: duration must be positive, got 0"),
    (lambda v: v.update(sentences=[], timestamps=[]), "v_ehGHCYKzyZ8: no sentences"),
    (lambda v: v["sentences"].pop(), "v_ehGHCYKzyZ8: 1 sentences but 2 timestamps"),
    (lambda v: v["sentences"].__setitem__(1, 5), "sentence 1 should be str, got 5"),
    (lambda v: v["timestamps"].__setitem__(0, [1.0]), "timestamp 0 should be [start, end] seconds, got [1.0]"),
    (lambda v: v["timestamps"].__setitem__(0, [1.0, True]), "timestamp 0 should be [start, end] seconds"),
])
def test_errors_name_the_line_of_the_video(root, change, message):
    path, _ = root
    data = json.loads(json.dumps(DATA))
    change(data["v_ehGHCYKzyZ8"])
    path.write_text(_dump(data))
    with pytest.raises(AnnotationError) as info:
        read_activitynet_captions(path)
    assert message in str(info.value)
    assert info.value.line == 3 and str(info.value).startswith(f"{path}:3: ")


def test_malformed_json_and_wrong_top_level(root):
    path, _ = root
    path.write_text('{\n"v_a": {"duration": 1, "timestamps": [[0, 1]], "sentences": ["x"]},\n"v_b": {"duration": }\n}')
    with pytest.raises(AnnotationError, match=r"val_1.json:3: malformed JSON"):
        read_activitynet_captions(path)
    path.write_text('[{"duration": 1}]')
    with pytest.raises(AnnotationError, match=r"val_1.json: expected a JSON object"):
        read_activitynet_captions(path)
    path.write_text('{\n"v_a": [1, 2]\n}')
    with pytest.raises(AnnotationError, match=r"val_1.json:2: expected a JSON object, got list"):
        read_activitynet_captions(path)


def test_missing_videos_are_listed_and_fatal_past_the_ratio(root):
    path, videos = root
    (videos / "v_ehGHCYKzyZ8.mkv").unlink()
    with pytest.raises(MissingVideosError, match=r"1 of 3 videos \(33.3%\) not found .*v_ehGHCYKzyZ8 \(line 3\)"):
        read_activitynet_captions(path, videos)
    moments = read_activitynet_captions(path, videos, paragraph=False, max_missing_ratio=0.5)
    assert len(moments) == 4 and [(m.video_id, m.line) for m in moments.missing] == [("v_ehGHCYKzyZ8", 3)]


def test_lines_in_a_pretty_printed_file(root):
    path, _ = root
    text = json.dumps(DATA, indent=4)
    path.write_text(text)
    records = read_activitynet_captions(path)
    assert [text.splitlines()[r.line - 1].strip()[:16] for r in records] == [
        '"v_QOlSCBRmfWY":', '"v_ehGHCYKzyZ8":', '"v_nwznKOuZM7w":']


def test_a_reversed_timestamp_is_dropped_with_a_warning(root, caplog):
    # The official train.json has two ("v_0bosp4-pyTM": [61.29, 60.71]); a paragraph keeps the text.
    path, _ = root
    data = json.loads(json.dumps(DATA))
    data["v_ehGHCYKzyZ8"]["timestamps"][1] = [20.0, 14.1]
    path.write_text(_dump(data))
    with caplog.at_level(logging.WARNING):
        moments = read_activitynet_captions(path, paragraph=False)
    assert [(m.video_id, m.keys) for m in moments if m.video_id == "v_ehGHCYKzyZ8"] == [("v_ehGHCYKzyZ8", ("0",))]
    assert len(moments) == 5
    assert "dropped 1 of 6 entries whose timestamp starts after it ends" in caplog.text
    assert f"ends: {path}:3 (v_ehGHCYKzyZ8 sentence 1)" in caplog.text
    assert read_activitynet_captions(path)[1].captions == ("Two men stand on a field. They throw a frisbee.",)


def test_grounding_queries(root, caplog):
    path, videos = root
    data = json.loads(json.dumps(DATA))
    data["v_nwznKOuZM7w"]["timestamps"].append([31.0, 40.0])  # past the 30 s video: empty once clipped
    data["v_nwznKOuZM7w"]["sentences"].append("Nothing happens.")
    path.write_text(_dump(data))
    with caplog.at_level(logging.WARNING):
        queries = read_activitynet_grounding(path, videos)
    assert [(q.qid, q.query, q.video_id, q.duration, q.relevant_windows, q.line) for q in queries] == [
        ("v_QOlSCBRmfWY_0", "A young woman is seen standing in a room.", "v_QOlSCBRmfWY", 82.73, ((0.83, 19.86),), 2),
        ("v_QOlSCBRmfWY_1", "The girl dances around the room.", "v_QOlSCBRmfWY", 82.73, ((17.37, 60.81),), 2),
        ("v_QOlSCBRmfWY_2", "She ends by bowing.", "v_QOlSCBRmfWY", 82.73, ((56.26, 79.42),), 2),
        ("v_ehGHCYKzyZ8_0", "Two men stand on a field.", "v_ehGHCYKzyZ8", 61.72, ((0.0, 14.1),), 3),
        ("v_ehGHCYKzyZ8_1", "They throw a frisbee.", "v_ehGHCYKzyZ8", 61.72, ((14.1, 61.72),), 3),
        ("v_nwznKOuZM7w_0", "A dog catches a ball.", "v_nwznKOuZM7w", 30.0, ((2.0, 9.5),), 4)]
    assert "dropped 1 of 7 entries whose window is empty" in caplog.text
    assert f"{path}:4 (v_nwznKOuZM7w sentence 1)" in caplog.text
    assert [q.video_path.name for q in queries][::3] == ["v_QOlSCBRmfWY.mp4", "v_ehGHCYKzyZ8.mkv"]
    assert all(q.clip_length == 2.0 and q.saliency_scores == () for q in queries)
    assert read_activitynet_grounding(path, clip_length=1.0)[0].clip_length == 1.0


def test_grounding_config_reads_val_1_and_val_2(tmp_path):
    for name, vid in (("val_1", "v_a"), ("val_2", "v_b"), ("mine", "v_c")):
        entry = {"duration": 10, "timestamps": [[1, 2]], "sentences": ["x"]}
        (tmp_path / f"{name}.json").write_text(_dump({vid: entry}))
    config = DatasetConfig({"format": "activitynet_grounding", "root": str(tmp_path), "val_1": "val_1.json",
                            "val_2": "val_2.json", "clip_length": 1}, "grounding", MOMENT_QUERIES)
    assert [config.source(s) for s in ("train", "val", "test", "predict")] == [None, "val_1", "val_2", "val_2"]
    assert config.records("val")[0].video_id == "v_a" and config.records("test")[0].video_id == "v_b"
    assert config.records("test")[0].clip_length == 1.0
    config = DatasetConfig({"format": "activitynet_grounding", "root": str(tmp_path), "val": "mine.json",
                            "val_1": "val_1.json"}, "grounding", MOMENT_QUERIES)
    assert config.records("val")[0].video_id == "v_c" and not config.has_split("test")
    with pytest.raises(ValueError, match=r"needs train or val or test or predict or val_1 or val_2"):
        DatasetConfig({"format": "activitynet_grounding"}, "grounding", MOMENT_QUERIES)
