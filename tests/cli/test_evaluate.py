"""``vidlift evaluate`` and the grounding file evaluator, on small files written here."""

import json
import logging
import math

import pytest

from vidlift.cli import evaluate as evaluate_cmd
from vidlift.cli import main
from vidlift.tasks.grounding.evaluate import evaluate_files

GROUND_TRUTH = [
    {"qid": 1, "query": "a", "duration": 10, "vid": "v1", "relevant_windows": [[0, 8]],
     "relevant_clip_ids": [0, 1, 2, 3], "saliency_scores": [[4, 4, 4], [2, 3, 4], [1, 1, 1], [0, 0, 4]]},
    {"qid": 2, "query": "b", "duration": 10, "vid": "v2", "relevant_windows": [[4, 8]],
     "relevant_clip_ids": [2, 3], "saliency_scores": [[4, 4, 4], [2, 3, 4]]},
]
SUBMISSION = [
    {"qid": 1, "query": "a", "vid": "v1", "pred_relevant_windows": [[0, 10, 0.9], [20, 30, 0.5]],
     "pred_saliency_scores": [1, 0.5, 0, 0, 0]},
    {"qid": 2, "query": "b", "vid": "v2", "pred_relevant_windows": [[4, 8, 0.9]],
     "pred_saliency_scores": [0, 0, 1, 0, 0]},
]


def write_jsonl(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    return write_jsonl(tmp_path / "pred.jsonl", SUBMISSION), write_jsonl(tmp_path / "gt.jsonl", GROUND_TRUTH)


def test_evaluate_files_values(files):
    m = evaluate_files(*files)
    # q1: first window [0, 10] vs [0, 8]: IoU 0.8 -> R1 hit up to 0.8, AP 1 at the 7 thresholds
    # 0.5 ... 0.8 and 0 at 0.85 ... 0.95 (mAP 70); q2: exact (100). mIoU (80 + 100) / 2;
    # mAP@0.85 = (0 + 100) / 2; mAP = (70 + 100) / 2.
    assert m["MR-full-mIoU"] == pytest.approx(90.0)
    assert m["MR-full-R1@0.8"] == 100.0 and m["MR-full-R1@0.85"] == pytest.approx(50.0)
    assert m["MR-full-mAP@0.85"] == pytest.approx(50.0)
    assert m["MR-full-mAP"] == pytest.approx(85.0)
    # Both windows are <= 10 s: every query is short, middle and long are empty.
    assert m["MR-short-num_queries"] == 2 and math.isnan(m["MR-long-mAP"])
    # VeryGood Hit1: q1 top clip 0 (4 for all), q2 top clip 2 (4 for all) -> 100.
    assert m["HL-min-VeryGood-Hit1"] == 100.0
    assert m["num_queries"] == 2 and m["num_missing"] == 0


def test_cli_end_to_end(files, tmp_path, capsys):
    out = tmp_path / "metrics" / "out.json"
    rc = main(["evaluate", "--task", "grounding", "--predictions", str(files[0]), "--ground-truth", str(files[1]),
               "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "moment retrieval" in printed and "VeryGood" in printed
    assert any(line.split()[:2] == ["mIoU", "90.00"] for line in printed.splitlines())
    written = json.loads(out.read_text())
    expected = evaluate_files(*files)
    assert written.keys() == expected.keys()
    for k, v in expected.items():  # NaN (an empty bucket) is written as null
        assert written[k] is None if math.isnan(v) else written[k] == v


def test_cli_malformed_line_names_file_and_line(files, capsys):
    pred = files[0]
    pred.write_text(json.dumps(SUBMISSION[0]) + "\n" + '{"qid": 2, "pred_relevant_windows": [[4, 8, 0.9]\n')
    rc = main(["evaluate", "--task", "grounding", "--predictions", str(pred), "--ground-truth", str(files[1])])
    assert rc == 2
    assert f"{pred}:2: malformed JSON" in capsys.readouterr().err


@pytest.mark.parametrize("lines, where, message", [
    ([SUBMISSION[0], {**SUBMISSION[1], "qid": 7}], 2, "qid 7 is not in the ground truth"),
    ([SUBMISSION[0], SUBMISSION[0]], 2, "predicted twice"),
    ([SUBMISSION[0], {"query": "b"}], 2, "missing key 'qid'"),
    ([{**SUBMISSION[0], "pred_relevant_windows": [[5, 1, 0.3]]}], 1, "ends before it starts"),
    ([{**SUBMISSION[0], "pred_relevant_windows": [[5, 6]]}], 1, r"\[start, end, score\]"),
])
def test_bad_submission_lines(tmp_path, files, lines, where, message):
    pred = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(ValueError, match=message) as e:
        evaluate_files(pred, files[1])
    assert str(e.value).startswith(f"{pred}:{where}:")


def test_bad_ground_truth_lines(tmp_path, files):
    unlabelled = write_jsonl(tmp_path / "test.jsonl", [{"qid": 1, "query": "a", "duration": 10, "vid": "v1"}])
    with pytest.raises(ValueError, match=r"test.jsonl:1: no 'relevant_windows'"):
        evaluate_files(files[0], unlabelled)
    bad_clip = write_jsonl(tmp_path / "gt2.jsonl", [{**GROUND_TRUTH[0], "relevant_clip_ids": [0, 1, 2, 9]}])
    with pytest.raises(ValueError, match=r"gt2.jsonl:1: clip id 9 outside the 5 clips"):
        evaluate_files(files[0], bad_clip)


def test_missing_predictions_are_misses_and_said(tmp_path, files, caplog):
    pred = write_jsonl(tmp_path / "one.jsonl", SUBMISSION[:1])
    with caplog.at_level(logging.WARNING):
        m = evaluate_files(pred, files[1])
    assert "no prediction for 1 of 2 queries (qids 2)" in caplog.text and "scored as misses" in caplog.text
    # q1 alone gives mIoU 80; q2 counts 0 -> 40.
    assert m["num_missing"] == 1 and m["MR-full-mIoU"] == pytest.approx(40.0)


def test_unknown_task_and_absent_evaluator(files, capsys, monkeypatch):
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--task", "segmentation", "--predictions", str(files[0]), "--ground-truth", str(files[1])])
    assert e.value.code == 2 and "invalid choice: 'segmentation'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no evaluator for task 'segmentation'"):
        evaluate_cmd.load_evaluator("segmentation")
    monkeypatch.setitem(evaluate_cmd.EVALUATORS, "qa", "vidlift.tasks.no_such_task.evaluate:evaluate_files")
    rc = main(["evaluate", "--task", "qa", "--predictions", str(files[0]), "--ground-truth", str(files[1])])
    err = capsys.readouterr().err
    assert rc == 2 and "the qa evaluator (vidlift.tasks.no_such_task.evaluate) is not available" in err
