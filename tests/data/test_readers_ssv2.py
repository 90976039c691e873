"""Something-Something v2 reader: labels.json, split files, test answers, errors with lines."""

import json

import pytest

from vidlift.data.datasets import AnnotationError, read_ssv2, read_ssv2_labels

LABELS = {"Approaching something with your camera": "0", "Moving something up": "1",
          "Putting something next to something": "2"}
TRAIN = [
    {"id": "78687", "label": "moving pen up", "template": "Moving [something] up", "placeholders": ["pen"]},
    {"id": "42326", "label": "putting cup next to box", "template": "Putting [something] next to [something]",
     "placeholders": ["cup", "box"]},
]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "labels.json").write_text(json.dumps(LABELS, indent=4))
    (tmp_path / "train.json").write_text(json.dumps(TRAIN, indent=4))
    (tmp_path / "test.json").write_text(json.dumps([{"id": "1420"}, {"id": "99"}]))
    (tmp_path / "test-answers.csv").write_text("1420;Approaching something with your camera\n99;Moving something up\n")
    videos = tmp_path / "20bn-something-something-v2"
    videos.mkdir()
    for vid in ("78687", "42326", "1420", "99"):
        (videos / f"{vid}.webm").write_bytes(b"")
    return tmp_path, videos


def test_reads_templates_as_classes(files):
    root, videos = files
    assert read_ssv2_labels(root / "labels.json")[1] == "Moving something up"
    samples = read_ssv2(root / "train.json", root / "labels.json", videos)
    assert [(s.video_id, s.label_index, s.label_name) for s in samples] == [
        ("78687", 1, "Moving something up"), ("42326", 2, "Putting something next to something")]
    assert samples[1].placeholders == ("cup", "box") and samples[1].text == "putting cup next to box"
    assert samples[0].video_path == videos / "78687.webm" and samples[0].line == 2
    assert len(samples.classes) == 3


def test_test_split_is_unlabelled_unless_answers_are_given(files):
    root, videos = files
    assert [s.label_index for s in read_ssv2(root / "test.json", root / "labels.json", videos)] == [None, None]
    answered = read_ssv2(root / "test.json", root / "labels.json", videos, answers_path=root / "test-answers.csv")
    assert [s.label_index for s in answered] == [0, 1]


def test_unknown_template_names_the_entry_line(files):
    root, _ = files
    bad = TRAIN + [{"id": "5", "label": "x", "template": "Juggling [something]", "placeholders": ["x"]}]
    (root / "train.json").write_text(json.dumps(bad, indent=4))
    with pytest.raises(AnnotationError, match=r"train.json:19: template 'Juggling \[something\]' is not a class"):
        read_ssv2(root / "train.json", root / "labels.json")


def test_malformed_json_and_missing_id_name_the_line(files):
    root, _ = files
    (root / "train.json").write_text('[\n {"id": "1", "template": "Moving [something] up"},\n {"id": "2",,}\n]')
    with pytest.raises(AnnotationError, match=r"train.json:3: malformed JSON"):
        read_ssv2(root / "train.json", root / "labels.json")
    (root / "train.json").write_text('[\n {"id": "1", "template": "Moving [something] up"},\n {"template": "x"}\n]')
    with pytest.raises(AnnotationError, match=r"train.json:3: missing key 'id'"):
        read_ssv2(root / "train.json", root / "labels.json")
    (root / "train.json").write_text('{"id": "1"}')
    with pytest.raises(AnnotationError, match=r"train.json:1: expected a JSON array"):
        read_ssv2(root / "train.json", root / "labels.json")


def test_bad_labels_file(files):
    root, _ = files
    (root / "labels.json").write_text('{\n "a": "0",\n "b": "zero"\n}')
    with pytest.raises(AnnotationError, match=r"labels.json:3: index of 'b' should be an integer"):
        read_ssv2_labels(root / "labels.json")
    (root / "labels.json").write_text('{\n "a": "0",\n "b": "2"\n}')
    with pytest.raises(AnnotationError, match=r"indices should be 0..1"):
        read_ssv2_labels(root / "labels.json")
