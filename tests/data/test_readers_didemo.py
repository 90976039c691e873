"""DiDeMo reader: paragraph and per-moment records, 5-second segments, errors naming file and line."""

import json

import pytest

from vidlift.data.datasets import AnnotationError, MissingVideosError, read_didemo

LINK = "https://multimedia-commons.s3-us-west-2.amazonaws.com/data/videos/mp4/"
ENTRIES = [
    {"num_segments": 6, "annotation_id": 15211, "description": "the girl jumps into the water ",
     "video": "12090392@N02_13482799053_87ef417396.mov", "times": [[1, 2], [1, 1], [1, 2], [2, 2]], "dl_link": LINK},
    {"num_segments": 6, "annotation_id": 9001, "description": "a dog runs past the camera",
     "video": "36216453@N00_6079939543_a8e8d31e95.mp4", "times": [[5, 5]], "dl_link": LINK},
    {"num_segments": 6, "annotation_id": 15212, "description": "camera pans to the left",
     "video": "12090392@N02_13482799053_87ef417396.mov", "times": [[0, 0], [0, 1]], "dl_link": LINK},
]


def _dump(entries):
    """As released: one entry per line, so entry i opens on line i + 2."""
    return "[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n"


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "val_data.json"
    path.write_text(_dump(ENTRIES))
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "12090392@N02_13482799053_87ef417396.mov.mp4").write_bytes(b"")  # converted, full name kept
    (videos / "36216453@N00_6079939543_a8e8d31e95.mp4").write_bytes(b"")
    return path, videos


def test_paragraph_per_video_in_annotation_order(root):
    path, videos = root
    records = read_didemo(path, videos)
    assert [(r.video_id, r.captions, r.split, r.line) for r in records] == [
        ("12090392@N02_13482799053_87ef417396.mov", ("the girl jumps into the water camera pans to the left",),
         "val", 2),
        ("36216453@N00_6079939543_a8e8d31e95.mp4", ("a dog runs past the camera",), "val", 3)]
    assert all(r.start is None and r.end is None for r in records)
    assert [r.video_path.name for r in records] == ["12090392@N02_13482799053_87ef417396.mov.mp4",
                                                    "36216453@N00_6079939543_a8e8d31e95.mp4"]
    assert records.missing == ()


def test_moments_use_the_first_annotator_in_seconds(root):
    path, _ = root
    moments = read_didemo(path, paragraph=False)
    # [s, e] segments, both inclusive -> [5 s, 5 (e + 1)) seconds.
    assert [(m.captions, m.start, m.end, m.keys) for m in moments] == [
        (("the girl jumps into the water",), 5.0, 15.0, ("15211",)),
        (("a dog runs past the camera",), 25.0, 30.0, ("9001",)),
        (("camera pans to the left",), 0.0, 5.0, ("15212",))]
    assert all(m.video_path is None for m in moments)


def test_videos_found_with_their_extension_replaced(root, tmp_path):
    path, _ = root
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "12090392@N02_13482799053_87ef417396.mp4").write_bytes(b"")
    (flat / "36216453@N00_6079939543_a8e8d31e95.mp4").write_bytes(b"")
    assert [r.video_path.parent for r in read_didemo(path, flat, paragraph=False)] == [flat] * 3


@pytest.mark.parametrize("change, message", [
    (lambda d: d[1].pop("video"), "missing key 'video'"),
    (lambda d: d[1].update(description=None), "missing key 'description'"),
    (lambda d: d[1].update(times=[]), "'times' is empty"),
    (lambda d: d[1].update(times=[[1, 2], [3]]), "a 'times' entry should be [start, end] segment indices, got [3]"),
    (lambda d: d[1].update(times=[[2, 1]]), "segments [2, 1] should satisfy 0 <= start <= end <= 5"),
    (lambda d: d[1].update(times=[[4, 6]]), "segments [4, 6] should satisfy"),
    (lambda d: d[1].update(times=[[1.5, 2]]), "a 'times' entry should be"),
])
def test_errors_name_the_line_of_the_entry(root, change, message):
    path, _ = root
    data = json.loads(json.dumps(ENTRIES))
    change(data)
    path.write_text(_dump(data))
    with pytest.raises(AnnotationError) as info:
        read_didemo(path)
    assert message in str(info.value)
    assert info.value.line == 3 and str(info.value).startswith(f"{path}:3: ")  # the 2nd entry's line


def test_malformed_json_and_wrong_top_level(root):
    path, _ = root
    path.write_text('[\n{"video": "a.mov", "description": "x", "times": [[0, 0]]},\n{"video": "b.mov",,}\n]')
    with pytest.raises(AnnotationError, match=r"val_data.json:3: malformed JSON"):
        read_didemo(path)
    path.write_text('{"video": "a.mov"}')
    with pytest.raises(AnnotationError, match=r"val_data.json:1: expected a JSON array"):
        read_didemo(path)


def test_missing_videos_are_listed_and_fatal_past_the_ratio(root):
    path, videos = root
    (videos / "36216453@N00_6079939543_a8e8d31e95.mp4").unlink()
    with pytest.raises(MissingVideosError, match=r"1 of 2 videos \(50.0%\) not found .*a8e8d31e95.mp4 \(line 3\)"):
        read_didemo(path, videos)
    moments = read_didemo(path, videos, paragraph=False, max_missing_ratio=0.5)
    assert [m.keys for m in moments] == [("15211",), ("15212",)]
    assert [(m.video_id, m.line) for m in moments.missing] == [("36216453@N00_6079939543_a8e8d31e95.mp4", 3)]
