"""Score a QA prediction file against an annotation file (``vidlift evaluate --task qa``).

**Predictions**: JSON lines, one per question, each an object with

- ``qid``: the question's id as vidlift's readers give it — NExT-QA ``"<video>_<qid>"`` (the key
  of NExT-QA's own result files), MSRVTT-QA / MSVD-QA the annotation's ``id`` as a string;
- ``prediction``: multiple choice, the chosen option's index (0-based int) or its text; open-ended,
  the answer text (compared exactly with the annotation's answer after stripping white space).

Other keys are ignored, so ``vidlift predict``'s ``predictions.jsonl`` is such a file. A ``.json``
file holding one object is read as NExT-QA's own result file (``main_qa.py`` writes it and
``eval_mc.py`` scores it): ``{"<video>_<qid>": {"prediction": 3, "answer": 0}, ...}``; its
``answer`` is ignored (the ground-truth file gives the answer) and errors name the qid instead
of a line. Any other model's results can be scored this way.

**Ground truth**: an annotation file of a QUESTIONS format, read by its reader (errors name
file and line): by extension ``.csv`` -> ``nextqa``, ``.json`` -> ``msrvtt_qa`` (MSVD-QA has the
same fields), ``.jsonl`` -> ``msrvtt_mc``; ``format`` names any registered QUESTIONS format instead.

Every annotated question needs exactly one prediction; a missing, repeated or unknown ``qid`` is
an error (the official NExT-QA script fails on a missing one too). Metrics are those of the task
(:func:`~.metrics.qa_accuracy`: ``accuracy``, ``acc_<type>``, NExT-QA's groups, percent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...data.datasets import QUESTIONS, AnnotationError, DatasetConfig, QASample
from ...data.datasets.common import read_jsonl
from .metrics import qa_accuracy

FORMAT_BY_SUFFIX = {".csv": "nextqa", ".json": "msrvtt_qa", ".jsonl": "msrvtt_mc"}


def read_ground_truth(path: str | Path, format: str | None = None) -> list[QASample]:
    """The questions of an annotation file (format from the extension unless given)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ground-truth file")
    name = format or FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if name is None:
        raise ValueError(f"{path}: cannot tell the QA format from the extension {path.suffix!r} "
                         f"({', '.join(f'{k} -> {v}' for k, v in FORMAT_BY_SUFFIX.items())}); name the format")
    config = DatasetConfig({"format": name, "test": str(path.resolve())}, "qa evaluate", QUESTIONS)
    records = list(config.records("test"))
    if not records:
        raise ValueError(f"{path}: no question in the file")
    return records


def _read_result_object(path: Path) -> dict[str, tuple[Any, int | None]] | None:
    """NExT-QA's result file ``{qid: {"prediction": p, ...}}`` as ``qid -> (p, None)``; None when
    the file is not one JSON object (then it is read as JSON lines)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or "qid" in data:  # a one-line JSONL file holds a "qid" key
        return None
    out: dict[str, tuple[Any, int | None]] = {}
    for qid, row in data.items():
        if not isinstance(row, dict) or "prediction" not in row:
            raise AnnotationError(path, None, f"question {qid!r}: expected an object with 'prediction' "
                                              "(NExT-QA's result format {qid: {prediction, answer}})")
        out[str(qid)] = (row["prediction"], None)
    return out


def read_predictions(path: str | Path) -> dict[str, tuple[Any, int | None]]:
    """``qid -> (prediction, line)`` from a JSON-lines file (or, for a ``.json`` file holding one
    object, NExT-QA's result format, line None); errors name file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such predictions file")
    if path.suffix.lower() == ".json":
        result = _read_result_object(path)
        if result is not None:
            return result
    out: dict[str, tuple[Any, int | None]] = {}
    for line, row in read_jsonl(path):
        if "qid" not in row or "prediction" not in row:
            raise AnnotationError(path, line, "expected an object with 'qid' and 'prediction'")
        qid = str(row["qid"])
        if qid in out:
            raise AnnotationError(path, line, f"question {qid!r} predicted twice (first on line {out[qid][1]})")
        out[qid] = (row["prediction"], line)
    return out


def _is_right(record: QASample, prediction: Any, path: Path, line: int | None) -> bool:
    def error(message: str) -> AnnotationError:  # without a line (NExT-QA's result object), name the qid
        return AnnotationError(path, line, message if line else f"question {record.qid!r}: {message}")

    if record.options:
        if isinstance(prediction, bool) or not isinstance(prediction, (int, str)):
            raise error(f"prediction {prediction!r} is neither an option index nor an option")
        if isinstance(prediction, str):
            if prediction.strip() not in record.options:
                raise error(f"prediction {prediction!r} is not one of the options of question {record.qid!r}")
            prediction = record.options.index(prediction.strip())
        if not 0 <= prediction < len(record.options):
            raise error(f"option index {prediction} out of range (0-{len(record.options) - 1})")
        return prediction == record.answer_index
    if not isinstance(prediction, str):
        raise error(f"an open-ended prediction must be the answer text, got {prediction!r}")
    return record.answer is not None and prediction.strip() == record.answer.strip()


def evaluate_files(predictions: str | Path, ground_truth: str | Path, format: str | None = None) -> dict[str, float]:
    """Accuracy of ``predictions`` (JSON lines ``{qid, prediction}``) on ``ground_truth`` (an
    annotation file): {"accuracy", "acc_<type>" …, "num_questions"} in percent (module docstring)."""
    truth = read_ground_truth(ground_truth, format)
    preds = read_predictions(predictions)
    path = Path(predictions)
    known = {r.qid for r in truth}
    unknown = [(q, line) for q, (_, line) in preds.items() if q not in known]
    if unknown:
        q, line = unknown[0]
        raise AnnotationError(path, line, f"question {q!r} is not in {ground_truth} ({len(unknown)} unknown qids)")
    missing = [r for r in truth if r.qid not in preds]
    if missing:
        shown = ", ".join(repr(r.qid) for r in missing[:5])
        raise ValueError(f"{path}: no prediction for {len(missing)} of {len(truth)} questions of {ground_truth}, "
                         f"e.g. {shown}")
    correct = [_is_right(r, preds[r.qid][0], path, preds[r.qid][1]) for r in truth]
    return qa_accuracy(correct, [r.type for r in truth])


__all__ = ["evaluate_files", "read_ground_truth", "read_predictions", "FORMAT_BY_SUFFIX"]
