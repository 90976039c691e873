"""UCF101 split-list reader: classInd indices, train/test lists, errors naming file and line, missing videos."""

import pytest

from vidlift.data.datasets import AnnotationError, MissingVideosError, read_ucf101, read_ucf101_classes

CLASSES = "1 ApplyEyeMakeup\r\n2 ApplyLipstick\r\n3 HandstandPushups\r\n"  # CRLF, as released
TRAIN = ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
         "HandstandPushups/v_HandStandPushups_g08_c01.avi 3\r\n"
         "ApplyLipstick/v_ApplyLipstick_g08_c01.avi 2\r\n")
TEST = "ApplyLipstick/v_ApplyLipstick_g01_c01.avi\r\nApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n"


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def dataset(tmp_path):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text(CLASSES, newline="")
    (lists / "trainlist01.txt").write_text(TRAIN, newline="")
    (lists / "testlist01.txt").write_text(TEST, newline="")
    videos = tmp_path / "UCF-101"
    _touch(videos / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi")
    _touch(videos / "HandstandPushups" / "v_HandStandPushups_g08_c01.avi")
    _touch(videos / "v_ApplyLipstick_g08_c01.mp4")  # flat and converted: found by name
    return lists, videos


def test_train_list_labels_are_zero_based_classind_order(dataset):
    lists, videos = dataset
    samples = read_ucf101(lists / "trainlist01.txt", videos)
    assert samples.classes == ("ApplyEyeMakeup", "ApplyLipstick", "HandstandPushups")
    assert [(s.video_id, s.label_index, s.label_name, s.line) for s in samples] == [
        ("v_ApplyEyeMakeup_g08_c01", 0, "ApplyEyeMakeup", 1),
        ("v_HandStandPushups_g08_c01", 2, "HandstandPushups", 2),
        ("v_ApplyLipstick_g08_c01", 1, "ApplyLipstick", 3)]
    assert all(s.split == "train" for s in samples) and samples.missing == ()
    assert [s.video_path.relative_to(videos).as_posix() for s in samples] == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "HandstandPushups/v_HandStandPushups_g08_c01.avi",
        "v_ApplyLipstick_g08_c01.mp4"]


def test_test_list_takes_the_label_from_the_folder(dataset):
    lists, _ = dataset
    samples = read_ucf101(lists / "testlist01.txt")
    assert [(s.video_id, s.label_index, s.split) for s in samples] == [
        ("v_ApplyLipstick_g01_c01", 1, "test"), ("v_ApplyEyeMakeup_g01_c01", 0, "test")]
    assert all(s.video_path is None for s in samples)
    # The folder plus split/subset picks the same file; an explicit classInd works too.
    again = read_ucf101(lists, split=1, subset="test", class_index=lists / "classInd.txt")
    assert [s.video_id for s in again] == [s.video_id for s in samples]
    with pytest.raises(ValueError, match="split 1, 2 or 3"):
        read_ucf101(lists, split=4)


@pytest.mark.parametrize("text, line, message", [
    ("ApplyEyeMakeup/v_a.avi 1\nv_b.avi 1\n", 2, "expected '<ClassName>/<video>.avi [<index>]'"),
    ("ApplyEyeMakeup/v_a.avi 1\n\nApplyEyeMakeup/v_b.avi 1 extra\n", 3, "expected '<ClassName>/<video>.avi"),
    ("Juggling/v_Juggling_g01_c01.avi 1\n", 1, "class folder 'Juggling' is not a class of"),
    ("ApplyEyeMakeup/v_a.avi 1\nApplyLipstick/v_b.avi 7\n", 2, "class index should be 1..3, got '7'"),
    ("ApplyEyeMakeup/v_a.avi two\n", 1, "class index should be 1..3, got 'two'"),
    ("ApplyEyeMakeup/v_a.avi 1\nApplyLipstick/v_b.avi 1\n", 2,
     "index 1 is 'ApplyEyeMakeup' in classInd.txt but the video is in folder 'ApplyLipstick'"),
    ("ApplyEyeMakeup/v_a.avi 1\nApplyEyeMakeup/v_a.avi 1\n", 2, "video 'v_a' listed twice (first on line 1)"),
])
def test_list_errors_name_file_and_line(dataset, text, line, message):
    lists, _ = dataset
    path = lists / "trainlist02.txt"
    path.write_text(text)
    with pytest.raises(AnnotationError) as info:
        read_ucf101(path)
    assert info.value.line == line and str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


@pytest.mark.parametrize("text, line, message", [
    ("1 ApplyEyeMakeup\n3 ApplyLipstick\n", 2, "expected index 2, got 3"),
    ("1 ApplyEyeMakeup\n2 Apply Lipstick\n", 2, "expected '<index> <ClassName>'"),
    ("1 ApplyEyeMakeup\n2 ApplyEyeMakeup\n", 2, "class 'ApplyEyeMakeup' listed twice"),
    ("\n\n", None, "empty file"),
])
def test_class_index_errors(tmp_path, text, line, message):
    path = tmp_path / "classInd.txt"
    path.write_text(text)
    with pytest.raises(AnnotationError) as info:
        read_ucf101_classes(path)
    assert info.value.line == line and str(info.value).startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert message in str(info.value)


def test_missing_videos_are_listed_and_fatal_past_the_ratio(dataset):
    lists, videos = dataset
    (videos / "HandstandPushups" / "v_HandStandPushups_g08_c01.avi").unlink()
    pattern = r"1 of 3 videos \(33.3%\) not found .*HandstandPushups/v_HandStandPushups_g08_c01 \(line 2\)"
    with pytest.raises(MissingVideosError, match=pattern):
        read_ucf101(lists / "trainlist01.txt", videos)
    samples = read_ucf101(lists / "trainlist01.txt", videos, max_missing_ratio=0.5)
    assert [s.video_id for s in samples] == ["v_ApplyEyeMakeup_g08_c01", "v_ApplyLipstick_g08_c01"]
    assert [(m.video_id, m.line) for m in samples.missing] == [("v_HandStandPushups_g08_c01", 2)]
    with pytest.raises(FileNotFoundError, match="no such annotation file"):
        read_ucf101(lists / "trainlist03.txt")
