"""evaluate_files on hand-built NExT-QA and MSRVTT-QA files: values, and errors naming file and line."""

from __future__ import annotations

import json

import pytest

from vidlift.data.datasets import AnnotationError
from vidlift.tasks.qa.evaluate import evaluate_files

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"


def _nextqa(path):
    rows = [("v1", "why?", 0, 0, "CW"), ("v1", "how?", 1, 1, "CH"), ("v2", "after?", 2, 0, "TN"),
            ("v2", "before?", 3, 1, "TP")]
    path.write_text(HEADER + "".join(f"{v},8,32,32,{q},{a},{i},{t},o0,o1,o2,o3,o4\n" for v, q, a, i, t in rows))
    return path


def _lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_multiple_choice_file(tmp_path):
    gt = _nextqa(tmp_path / "val.csv")
    # right, wrong, right (by option text), wrong -> 50 %; C: 1/2, T (TN + TP merged): 1/2.
    pred = _lines(tmp_path / "p.jsonl", [{"qid": "v1_0", "prediction": 0}, {"qid": "v1_1", "prediction": 0},
                                         {"qid": "v2_0", "prediction": "o2"}, {"qid": "v2_1", "prediction": 4}])
    m = evaluate_files(pred, gt)
    assert m["accuracy"] == 50.0 and m["acc_C"] == 50.0 and m["acc_T"] == 50.0
    assert m["acc_CW"] == 100.0 and m["acc_CH"] == 0.0 and m["acc_TN"] == 50.0 and "acc_TP" not in m


def test_open_ended_file(tmp_path):
    gt = tmp_path / "test_qa.json"
    gt.write_text(json.dumps([{"question": "what is it?", "answer": "dog", "video_id": 1, "id": 7},
                              {"question": "who sings?", "answer": "man", "video_id": 2, "id": 8}]))
    pred = _lines(tmp_path / "p.jsonl", [{"qid": 7, "prediction": " dog "}, {"qid": "8", "prediction": "woman"}])
    m = evaluate_files(pred, gt)
    assert m["accuracy"] == 50.0 and m["acc_what"] == 100.0 and m["acc_who"] == 0.0


def test_bad_prediction_files_name_file_and_line(tmp_path):
    gt = _nextqa(tmp_path / "val.csv")
    good = [{"qid": q, "prediction": 0} for q in ("v1_0", "v1_1", "v2_0", "v2_1")]
    dup = _lines(tmp_path / "dup.jsonl", good + [{"qid": "v1_0", "prediction": 1}])
    with pytest.raises(AnnotationError, match=r"dup.jsonl:5: question 'v1_0' predicted twice \(first on line 1\)"):
        evaluate_files(dup, gt)
    unknown = _lines(tmp_path / "unknown.jsonl", [*good[:2], {"qid": "zz_9", "prediction": 0}, *good[2:]])
    with pytest.raises(AnnotationError, match=r"unknown.jsonl:3: question 'zz_9' is not in"):
        evaluate_files(unknown, gt)
    missing = _lines(tmp_path / "missing.jsonl", good[:3])
    with pytest.raises(ValueError, match=r"no prediction for 1 of 4 questions .*'v2_1'"):
        evaluate_files(missing, gt)
    out_of_range = _lines(tmp_path / "range.jsonl", [*good[:3], {"qid": "v2_1", "prediction": 5}])
    with pytest.raises(AnnotationError, match=r"range.jsonl:4: option index 5 out of range"):
        evaluate_files(out_of_range, gt)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"qid": "v1_0", "prediction": 0}\n{"qid": \n')
    with pytest.raises(AnnotationError, match=r"broken.jsonl:2: malformed JSON line"):
        evaluate_files(broken, gt)
    with pytest.raises(ValueError, match="cannot tell the QA format"):
        evaluate_files(dup, _lines(tmp_path / "gt.txt", []))


def test_nextqa_result_object(tmp_path):
    # NExT-QA's own result file (main_qa.py writes it, eval_mc.py scores it): one JSON object
    # {"<video>_<qid>": {"prediction", "answer"}}; its "answer" is ignored, the CSV gives it.
    gt = _nextqa(tmp_path / "val.csv")
    result = {"v1_0": {"prediction": 0, "answer": 3}, "v1_1": {"prediction": 0, "answer": 1},
              "v2_0": {"prediction": 2, "answer": 2}, "v2_1": {"prediction": 3, "answer": 0}}
    (tmp_path / "HGA-val.json").write_text(json.dumps(result, indent=4))
    m = evaluate_files(tmp_path / "HGA-val.json", gt)
    # right, wrong, right, right -> 75 %; C 1/2; T (TN + TP): 2/2.
    assert m["accuracy"] == 75.0 and m["acc_C"] == 50.0 and m["acc_T"] == 100.0 and m["acc_TN"] == 100.0
    # vidlift's JSON lines in a .json file are still read as lines (one line, or several).
    lines = [{"qid": q, "prediction": r["prediction"]} for q, r in result.items()]
    assert evaluate_files(_lines(tmp_path / "p.json", lines), gt)["accuracy"] == 75.0
    (tmp_path / "bad.json").write_text(json.dumps({**result, "v2_1": {"answer": 0}}))
    with pytest.raises(AnnotationError, match=r"bad.json: question 'v2_1': expected an object with 'prediction'"):
        evaluate_files(tmp_path / "bad.json", gt)
    (tmp_path / "range.json").write_text(json.dumps({**result, "v2_1": {"prediction": 7}}))
    with pytest.raises(AnnotationError, match=r"range.json: question 'v2_1': option index 7 out of range"):
        evaluate_files(tmp_path / "range.json", gt)
