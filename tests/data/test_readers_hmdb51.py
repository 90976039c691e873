"""HMDB51 split reader: per-class split files, alphabetical classes, errors naming file and line, missing videos."""

import pytest

from vidlift.data.datasets import AnnotationError, MissingVideosError, read_hmdb51

SPLITS = {
    # Lines as released: "<video>.avi <id> " with a trailing space; 1 train, 2 test, 0 unused.
    "wave_test_split1.txt": "Wave_hello_wave_h_nm_np1_fr_goo_0.avi 1 \nWave_hello_wave_h_nm_np1_fr_goo_1.avi 2 \n",
    "brush_hair_test_split1.txt": ("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 \n"
                                   "April_09_brush_hair_u_nm_np1_ba_goo_1.avi 0 \n"
                                   "Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo_0.avi 1 \n"),
    "brush_hair_test_split2.txt": "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 2 \n",
    "draw_sword_test_split1.txt": "(Rad)Schlag_die_Bank!_draw_sword_f_nm_np1_fr_med_0.avi 2 \n",
    "README.txt": "not a split file\n",
}


@pytest.fixture
def dataset(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    for name, text in SPLITS.items():
        (splits / name).write_text(text)
    videos = tmp_path / "hmdb51_org"
    for rel in ("brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
                "brush_hair/Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo_0.avi",
                "wave/Wave_hello_wave_h_nm_np1_fr_goo_0.avi"):
        (videos / rel).parent.mkdir(parents=True, exist_ok=True)
        (videos / rel).write_bytes(b"")
    return splits, videos


def test_train_subset_with_alphabetical_classes(dataset):
    splits, videos = dataset
    samples = read_hmdb51(splits, 1, "train", videos)
    assert samples.classes == ("brush_hair", "draw_sword", "wave") and samples.source == splits
    assert [(s.video_id, s.label_index, s.label_name, s.split, s.line) for s in samples] == [
        ("April_09_brush_hair_u_nm_np1_ba_goo_0", 0, "brush_hair", "train", 1),
        ("Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo_0", 0, "brush_hair", "train", 3),
        ("Wave_hello_wave_h_nm_np1_fr_goo_0", 2, "wave", "train", 1)]
    assert samples[0].video_path == videos / "brush_hair" / "April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
    assert samples.missing == ()


def test_test_subset_and_other_splits(dataset):
    splits, _ = dataset
    test = read_hmdb51(splits, subset="test")
    assert [(s.video_id, s.label_index) for s in test] == [
        ("(Rad)Schlag_die_Bank!_draw_sword_f_nm_np1_fr_med_0", 1), ("Wave_hello_wave_h_nm_np1_fr_goo_1", 2)]
    assert all(s.video_path is None for s in test)
    split2 = read_hmdb51(splits, split=2, subset="test")
    assert split2.classes == ("brush_hair",) and [s.label_index for s in split2] == [0]
    with pytest.raises(FileNotFoundError, match=r"no split files named <class>_test_split3.txt"):
        read_hmdb51(splits, split=3)
    with pytest.raises(FileNotFoundError, match="no such split folder"):
        read_hmdb51(splits / "nope")
    with pytest.raises(ValueError, match="subset must be 'train' or 'test'"):
        read_hmdb51(splits, subset="val")


@pytest.mark.parametrize("text, line, message", [
    ("a_wave_0.avi 1\nb_wave_0.avi\n", 2, "expected '<video>.avi <id>', got 'b_wave_0.avi'"),
    ("a_wave_0.avi 1\n\nb_wave_0.avi 3\n", 3, "id should be 0 (unused), 1 (train) or 2 (test), got '3'"),
    ("a_wave_0.avi 1\nb_wave_0.avi 2\na_wave_0.avi 0\n", 3, "video 'a_wave_0' listed twice (first on line 1)"),
])
def test_errors_name_the_class_file_and_line(dataset, text, line, message):
    splits, _ = dataset
    path = splits / "wave_test_split1.txt"
    path.write_text(text)
    with pytest.raises(AnnotationError) as info:
        read_hmdb51(splits)
    assert info.value.line == line and str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_missing_videos_are_listed_and_fatal_past_the_ratio(dataset):
    splits, videos = dataset
    (videos / "wave" / "Wave_hello_wave_h_nm_np1_fr_goo_0.avi").unlink()
    with pytest.raises(MissingVideosError,
                       match=r"1 of 3 videos \(33.3%\) not found .*wave/Wave_hello_wave_h_nm_np1_fr_goo_0 \(line 1\)"):
        read_hmdb51(splits, 1, "train", videos)
    samples = read_hmdb51(splits, 1, "train", videos, max_missing_ratio=0.5)
    assert len(samples) == 2 and [(m.video_id, m.line) for m in samples.missing] == [
        ("Wave_hello_wave_h_nm_np1_fr_goo_0", 1)]
