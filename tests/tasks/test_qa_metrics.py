"""QA metrics on hand-built lists: NExT-QA's type merge and pooled groups (eval_mc.py), open-ended
vocabulary (top-k, ties by first occurrence) and out-of-vocabulary answers counted wrong."""

from __future__ import annotations

import pytest

from vidlift.tasks.qa.metrics import answer_vocabulary, qa_accuracy


def test_nextqa_groups_are_pooled_over_questions_and_tp_counts_as_tn():
    # CW: 1 of 1 right; CH: 0 of 3 right -> causal pooled 1/4 = 25 % (the mean of types would be 50 %).
    # TN: 1 of 1 right, TP: 0 of 1 right -> one merged TN type, 1/2 = 50 %; TC: 2/2 -> temporal 3/4.
    # DO: 0 of 2 -> descriptive 0 %. Overall 4 of 10.
    types = ["CW", "CH", "CH", "CH", "TN", "TP", "TC", "TC", "DO", "DO"]
    right = [True, False, False, False, True, False, True, True, False, False]
    m = qa_accuracy(right, types)
    assert m["accuracy"] == pytest.approx(40.0)
    assert m["acc_CW"] == 100.0 and m["acc_CH"] == 0.0
    assert m["acc_C"] == pytest.approx(25.0)
    assert m["acc_C"] != pytest.approx((m["acc_CW"] + m["acc_CH"]) / 2)  # pooled, not the mean of the types
    assert "acc_TP" not in m and m["acc_TN"] == pytest.approx(50.0)
    assert m["acc_T"] == pytest.approx(75.0)
    assert m["acc_D"] == 0.0 and m["acc_DO"] == 0.0
    assert "acc_DC" not in m and "acc_DL" not in m  # no question of these types: left out, not 0/0
    assert m["num_questions"] == 10


def test_types_that_are_not_nextqa_codes_get_no_groups():
    m = qa_accuracy([True, False, True], ["what", "what", "who"])
    assert m == {"accuracy": pytest.approx(200 / 3), "num_questions": 3.0, "acc_what": 50.0, "acc_who": 100.0}
    assert qa_accuracy([True, False], None) == {"accuracy": 50.0, "num_questions": 2.0}


def test_vocabulary_is_top_k_with_ties_in_first_occurrence_order():
    answers = ["dog", "cat", "man", "cat", "ball", "dog", "man", "car"]
    # counts: dog 2, cat 2, man 2, ball 1, car 1 -> ties keep first occurrence: dog, cat, man; ball before car.
    assert answer_vocabulary(answers, 10) == ["dog", "cat", "man", "ball", "car"]
    assert answer_vocabulary(answers, 4) == ["dog", "cat", "man", "ball"]
    assert answer_vocabulary(["b", "a", "a"], 1) == ["a"]
    with pytest.raises(ValueError, match="positive integer"):
        answer_vocabulary(answers, 0)


def test_out_of_vocabulary_answers_count_as_wrong(tmp_path):
    """The task marks a test answer outside the vocabulary with target -1: never right, still counted."""
    import torch

    from vidlift.tasks.qa.task import QATask

    ann = tmp_path / "train_qa.json"
    ann.write_text('[{"question": "what is it?", "answer": "dog", "video_id": 0, "id": 0},'
                   ' {"question": "who is it?", "answer": "man", "video_id": 1, "id": 1}]')
    task = QATask({"format": "msrvtt_qa", "train": str(ann), "val": str(ann)}, mode="open")
    task.answers = ["dog", "cat"]
    task._records["val"] = task.records("val")
    # Question 0: predicted "dog", right. Question 1: "man" is out of the vocabulary (-1): wrong
    # whatever is predicted, and it stays in the denominator.
    out = {"index": torch.tensor([0, 1]), "prediction": torch.tensor([0, 1]), "target": torch.tensor([0, -1])}
    m = task.compute_metrics(out, "val")
    assert m["accuracy"] == 50.0 and m["num_questions"] == 2 and m["oov_percent"] == 50.0
    assert m["acc_what"] == 100.0 and m["acc_who"] == 0.0
    # A question gathered twice (distributed padding) counts once.
    dup = {k: torch.cat([v, v[:1]]) for k, v in out.items()}
    assert task.compute_metrics(dup, "val")["num_questions"] == 2
