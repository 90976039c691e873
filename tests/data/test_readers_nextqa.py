"""NExT-QA reader: options and answers, type codes, the video map; errors name file and line."""

import json

import pytest

from vidlift.data.datasets import AnnotationError, read_nextqa

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
ROWS = ("4010069381,369,640,480,how do the two man play the instrument,0,6,CH,"
        "roll the handle,tap their feet,strum the string,hit with sticks,pat with hand\n"
        "4010069381,369,640,480,what did the man do after the song,3,7,TN,sit down,sing,dance,clap,leave\n")


@pytest.fixture
def root(tmp_path):
    (tmp_path / "NExTVideo" / "1164").mkdir(parents=True)
    (tmp_path / "NExTVideo" / "1164" / "4010069381.mp4").write_bytes(b"")
    (tmp_path / "map_vid_vidorID.json").write_text(json.dumps({"4010069381": "1164/4010069381"}))
    return tmp_path


def test_reads_options_answer_and_type(root):
    path = root / "val.csv"
    path.write_text(HEADER + ROWS)
    qa = read_nextqa(path, root / "NExTVideo", video_map=root / "map_vid_vidorID.json")
    first, second = qa
    assert first.options[0] == "roll the handle" and first.answer == "roll the handle" and first.answer_index == 0
    assert second.answer == "clap" and second.type == "TN" and second.qid == "4010069381_7"
    assert (first.frame_count, first.width, first.height) == (369, 640, 480)
    assert first.video_path == root / "NExTVideo" / "1164" / "4010069381.mp4"
    # Without the map the video is still found by its id.
    assert read_nextqa(path, root / "NExTVideo")[0].video_path == first.video_path


def test_answer_text_as_in_next_gqa(root):
    path = root / "train.csv"
    path.write_text(HEADER + ROWS.replace(",3,7,TN,", ",clap,7,TN,"))
    assert read_nextqa(path)[1].answer_index == 3


@pytest.mark.parametrize("old, new, message", [
    (",3,7,TN,", ",5,7,TN,", "answer 5 is not an option index (0-4)"),
    (",3,7,TN,", ",juggle,7,TN,", "answer 'juggle' is neither an option index nor an option"),
    (",3,7,TN,", ",3,7,XX,", "unknown question type 'XX'"),
    (",3,7,TN,", ",3,6,TN,", "question 6 of video 4010069381 repeated (first on line 2)"),
    (",clap,leave\n", ",clap\n", "expected 13 fields, got 12 (no value for ['a4'])"),
])
def test_errors_name_file_and_line(root, old, new, message):
    path = root / "val.csv"
    path.write_text(HEADER + ROWS.replace(old, new))
    with pytest.raises(AnnotationError) as info:
        read_nextqa(path)
    assert str(info.value).startswith(f"{path}:3: ") and message in str(info.value)


def test_video_absent_from_the_map(root):
    path = root / "val.csv"
    path.write_text(HEADER + ROWS.replace("4010069381,369", "5555555555,369", 1))
    with pytest.raises(AnnotationError, match=r"val.csv:2: video 5555555555 is not in the video map"):
        read_nextqa(path, video_map=root / "map_vid_vidorID.json")
