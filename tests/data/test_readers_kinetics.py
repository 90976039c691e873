"""Kinetics CSV reader: real layouts, unlabelled test files, errors naming file and line, missing clips."""

import pytest

from vidlift.data.datasets import AnnotationError, MissingVideosError, read_kinetics

CSV = """label,youtube_id,time_start,time_end,split,is_cc
abseiling,--07WQ2iBlw,1,11,train,0
"passing American football (in game)",-_1WKvZiV1s,25,35,train,0
air drumming,zz_9-ab3Cd0,40,50,train,0
"""


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def dataset(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(CSV)
    videos = tmp_path / "videos"
    # The layouts clips come in: per class, flat, named by youtube id only, other extensions.
    _touch(videos / "train" / "abseiling" / "--07WQ2iBlw_000001_000011.mp4")
    _touch(videos / "-_1WKvZiV1s_000025_000035.mkv")
    _touch(videos / "zz_9-ab3Cd0.webm")
    return csv_path, videos


def test_reads_labels_times_and_finds_clips_in_any_layout(dataset):
    csv_path, videos = dataset
    samples = read_kinetics(csv_path, videos)
    assert samples.classes == ("abseiling", "air drumming", "passing American football (in game)")
    assert [s.label_index for s in samples] == [0, 2, 1]
    first = samples[0]
    assert first.video_id == "--07WQ2iBlw_000001_000011" and first.label_name == "abseiling"
    assert (first.time_start, first.time_end, first.split, first.line) == (1.0, 11.0, "train", 2)
    assert [s.video_path.name for s in samples] == ["--07WQ2iBlw_000001_000011.mp4",
                                                    "-_1WKvZiV1s_000025_000035.mkv", "zz_9-ab3Cd0.webm"]
    assert samples.missing == ()


def test_class_list_from_file_and_annotations_only(dataset, tmp_path):
    csv_path, _ = dataset
    classes = tmp_path / "classes.txt"
    classes.write_text("air drumming\nabseiling\npassing American football (in game)\nzumba\n")
    samples = read_kinetics(csv_path, classes=classes)
    assert [s.label_index for s in samples] == [1, 2, 0] and len(samples.classes) == 4
    assert all(s.video_path is None for s in samples)


def test_unlabelled_test_csv(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("youtube_id,time_start,time_end,split\nabc,0,10,test\n")
    (sample,) = read_kinetics(path, classes=["a", "b"])
    assert sample.label_index is None and sample.label_name is None and sample.video_id == "abc_000000_000010"


@pytest.mark.parametrize("text, line, message", [
    ("label,youtube_id,time_end\nx,abc,10\n", 1, "missing column(s) ['time_start']"),
    ("label,youtube_id,time_start,time_end\nx,abc,0,10\ny,def,5\n", 3,
     "expected 4 fields, got 3 (no value for ['time_end'])"),
    ("label,youtube_id,time_start,time_end\nx,abc,0,10\n\ny,def,ten,20\n", 4, "column 'time_start' should be a number"),
    ("label,youtube_id,time_start,time_end\nx,abc,10,10\n", 2, "must be >= 0 and before time_end"),
    ("label,youtube_id,time_start,time_end\nx,,0,10\n", 2, "empty youtube_id"),
])
def test_errors_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(AnnotationError) as info:
        read_kinetics(path)
    assert info.value.line == line and str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_unknown_label_is_an_error(dataset):
    csv_path, _ = dataset
    with pytest.raises(AnnotationError, match=r"train.csv:4: unknown label 'air drumming'"):
        read_kinetics(csv_path, classes=["abseiling", "passing American football (in game)"])


def test_missing_clips_are_listed_and_fatal_past_the_ratio(dataset):
    csv_path, videos = dataset
    (videos / "zz_9-ab3Cd0.webm").unlink()
    with pytest.raises(MissingVideosError, match=r"1 of 3 videos \(33.3%\) not found .*_000040_000050 \(line 4\)"):
        read_kinetics(csv_path, videos)
    samples = read_kinetics(csv_path, videos, max_missing_ratio=0.5)
    assert len(samples) == 2 and [(m.video_id, m.line) for m in samples.missing] == [("zz_9-ab3Cd0_000040_000050", 4)]
    with pytest.raises(FileNotFoundError, match="no such video folder"):
        read_kinetics(csv_path, videos / "nope")
    with pytest.raises(FileNotFoundError, match="no such annotation file"):
        read_kinetics(videos / "nope.csv")
