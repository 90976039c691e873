"""Charades-STA reader: durations from the Charades CSV, period stripped, ends clipped, empty
windows dropped with a warning; errors name file and line."""

import logging

import pytest

from vidlift.data.datasets import (
                                   MOMENT_QUERIES,
                                   AnnotationError,
                                   DatasetConfig,
                                   read_charades_durations,
                                   read_charades_sta,
)

# Rows as in Charades_v1_train.csv (quoted fields with commas and a line break inside).
CSV = """id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length
3MSZA,ABC1,Kitchen,6,7,Yes,"A person turns on a light, then sits.",light;chair,"A person turns on a light.
Then sits down.",c001 0.00 5.00,30.96
AO8RW,ABC2,Bedroom,5,6,Yes,A person puts a book on a shelf.,book;shelf,A person puts a book away.,c002 1.0 6.0,33.67
"""
STA = """3MSZA 24.3 30.4##person turn a light on.
3MSZA 24.3 32.0##person flipped the light switch near the door.

AO8RW 0.0 6.9##a person is putting a book on a shelf.
AO8RW 34.0 36.2##person walks out of the room.
AO8RW 4.0 4.0##person opens a door
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "Charades_v1_train.csv").write_text(CSV)
    (tmp_path / "charades_sta_train.txt").write_text(STA)
    return tmp_path


def test_durations_from_the_csv(files):
    # The first row's description spans two physical lines: the second row starts on line 4.
    assert read_charades_durations(files / "Charades_v1_train.csv") == {"3MSZA": 30.96, "AO8RW": 33.67}


def test_reads_queries(files, caplog):
    videos = files / "videos"
    videos.mkdir()
    (videos / "3MSZA.mp4").write_bytes(b"")
    (videos / "AO8RW.mp4").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        queries = read_charades_sta(files / "charades_sta_train.txt", files / "Charades_v1_train.csv", videos)
    assert [(q.qid, q.query, q.video_id, q.duration, q.relevant_windows, q.line) for q in queries] == [
        ("3MSZA_1", "person turn a light on", "3MSZA", 30.96, ((24.3, 30.4),), 1),
        ("3MSZA_2", "person flipped the light switch near the door", "3MSZA", 30.96, ((24.3, 30.96),), 2),  # clipped
        ("AO8RW_4", "a person is putting a book on a shelf", "AO8RW", 33.67, ((0.0, 6.9),), 4)]
    assert all(q.clip_length == 1.0 and q.saliency_scores == () and q.relevant_clip_ids == () for q in queries)
    assert [q.video_path.name for q in queries] == ["3MSZA.mp4", "3MSZA.mp4", "AO8RW.mp4"]
    # Line 5 starts past the 33.67 s video (empty once clipped), line 6 is empty as given.
    path = files / "charades_sta_train.txt"
    assert "dropped 2 of 5 entries whose start is not before their end" in caplog.text
    assert f"{path}:5 (AO8RW), {path}:6 (AO8RW)" in caplog.text


def test_durations_as_a_mapping_and_clip_length(files):
    queries = read_charades_sta(files / "charades_sta_train.txt", {"3MSZA": 28.0, "AO8RW": 40.0}, clip_length=2.0)
    assert [q.relevant_windows for q in queries] == [((24.3, 28.0),), ((24.3, 28.0),), ((0.0, 6.9),), ((34.0, 36.2),)]
    assert queries[0].clip_length == 2.0


@pytest.mark.parametrize("line, message", [
    ("3MSZA 24.3 30.4 person turn a light on.", "expected '<vid> <start> <end>##<sentence>'"),
    ("3MSZA 24.3##person turn a light on.", "expected '<vid> <start> <end>' before '##', got '3MSZA 24.3'"),
    ("3MSZA 24.3 end##person turn a light on.", "start and end should be seconds, got '24.3' and 'end'"),
    ("3MSZA -1 3##person turn a light on.", "start -1 is negative"),
    ("3MSZA 1 3## . ", "empty sentence"),
    ("ZZZZZ 1 3##person sits.", "video ZZZZZ has no length in "),
])
def test_errors_name_file_and_line(files, line, message):
    path = files / "charades_sta_train.txt"
    path.write_text(STA.replace("AO8RW 0.0 6.9##a person is putting a book on a shelf.", line))
    with pytest.raises(AnnotationError) as info:
        read_charades_sta(path, files / "Charades_v1_train.csv")
    assert str(info.value).startswith(f"{path}:4: ") and message in str(info.value)


@pytest.mark.parametrize("row, message", [
    ("X1,S,Kitchen,1,1,Yes,s,o,d,a,", "column 'length' should be a number, got ''"),
    ("X1,S,Kitchen,1,1,Yes,s,o,d,a,0", "X1: length must be positive, got '0'"),
    ("3MSZA,S,Kitchen,1,1,Yes,s,o,d,a,12.5", "3MSZA: length 12.5 differs from 30.96 given at "),
])
def test_csv_errors_name_file_and_line(files, row, message):
    path = files / "Charades_v1_train.csv"
    path.write_text(CSV + row + "\n")
    with pytest.raises(AnnotationError) as info:
        read_charades_durations(path)
    assert str(info.value).startswith(f"{path}:5: ") and message in str(info.value)
    path.write_text("id,subject\nX1,S\n")
    with pytest.raises(AnnotationError, match=r"Charades_v1_train.csv:1: missing column\(s\) \['length'\]"):
        read_charades_sta(files / "charades_sta_train.txt", path)


def test_builds_through_the_registry(files):
    (files / "Charades_v1_test.csv").write_text(CSV.splitlines()[0] + "\nTEST1,S,Hall,1,1,Yes,s,o,d,a,20.0\n")
    (files / "charades_sta_test.txt").write_text("TEST1 2 5##person opens the door.\n")
    config = DatasetConfig({"format": "charades_sta", "root": str(files), "train": "charades_sta_train.txt",
                            "test": "charades_sta_test.txt", "durations": ["Charades_v1_train.csv",
                                                                           "Charades_v1_test.csv"]},
                           "grounding", MOMENT_QUERIES)
    assert len(config.records("train")) == 3 and config.records("train")[0].clip_length == 1.0
    (q,) = config.records("predict")
    assert (q.qid, q.query, q.duration, q.relevant_windows) == ("TEST1_1", "person opens the door", 20.0, ((2.0, 5.0),))
    with pytest.raises(ValueError, match=r"dataset \(charades_sta\) needs durations"):
        DatasetConfig({"format": "charades_sta", "train": "x.txt"}, "grounding", MOMENT_QUERIES)
