"""Something-Something v2: ``labels.json`` + ``train.json`` / ``validation.json`` / ``test.json``.

``labels.json`` maps a class name — the template without its brackets, "Moving something up"
— to its index as a string. Train/validation entries are
``{"id", "label", "template", "placeholders"}``; test entries carry only ``id``, and the
labels, when published, come as ``test-answers.csv`` lines ``id;class name``. Videos are
``{id}.webm`` (any extension is accepted).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, get, read_json_array, read_text
from .errors import AnnotationError
from .records import ClassificationSample, Records
from .registry import LABELLED_CLIPS, SPLITS, DatasetConfig, DatasetFormat, register_format


def class_name(template: str) -> str:
    """The ``labels.json`` key of a template: "Moving [something] up" -> "Moving something up"."""
    return template.replace("[", "").replace("]", "")


def read_ssv2_labels(labels_path: str | os.PathLike) -> tuple[str, ...]:
    """Class names in index order from ``labels.json``; the indices must be 0..n-1."""
    path = Path(labels_path)
    text = read_text(path)
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, e.lineno, f"malformed JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(mapping, dict) or not mapping:
        raise AnnotationError(path, None, "expected a JSON object {class name: index}")
    names: dict[int, str] = {}
    for name, value in mapping.items():
        pos = text.find(json.dumps(name, ensure_ascii=False))
        line = text.count("\n", 0, pos) + 1 if pos >= 0 else None
        try:
            i = int(value)
        except (TypeError, ValueError):
            raise AnnotationError(path, line, f"index of {name!r} should be an integer, got {value!r}") from None
        if i in names:
            raise AnnotationError(path, line, f"index {i} used twice ({names[i]!r} and {name!r})")
        names[i] = name
    if sorted(names) != list(range(len(names))):
        raise AnnotationError(path, None, f"indices should be 0..{len(names) - 1}, got {sorted(names)[:5]}...")
    return tuple(names[i] for i in range(len(names)))


def _answers(path: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for line, raw in enumerate(read_text(path).splitlines(), 1):
        if raw.strip():
            vid, sep, name = raw.partition(";")
            if not sep:
                raise AnnotationError(path, line, f"expected 'id;label', got {raw!r}")
            out[vid.strip()] = (name.strip(), line)
    return out


def read_ssv2(
    json_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    answers_path: str | os.PathLike | None = None,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[ClassificationSample]:
    """Read an SSv2 split file. Entries without a template are unlabelled unless
    ``answers_path`` (``test-answers.csv``) labels them. ``video_root``/``max_missing_ratio``
    as in :func:`~vidlift.data.datasets.read_kinetics`.

    Raises:
        AnnotationError: naming file and line, for a malformed entry or a template (or answer)
            that is not a class of ``labels.json``.
    """
    path = Path(json_path)
    names = read_ssv2_labels(labels_path)
    index = {n: i for i, n in enumerate(names)}
    answers = _answers(Path(answers_path)) if answers_path is not None else {}
    samples = []
    for line, entry in read_json_array(path):
        vid = str(get(path, line, entry, "id", (str, int)))
        template = get(path, line, entry, "template", str, required=False)
        placeholders = get(path, line, entry, "placeholders", list, required=False) or []
        label = None
        if template is not None:
            label = class_name(template)
            if label not in index:
                raise AnnotationError(path, line, f"template {template!r} is not a class of {labels_path}")
        elif vid in answers:
            label, answer_line = answers[vid]
            if label not in index:
                raise AnnotationError(answers_path, answer_line, f"label {label!r} is not a class of {labels_path}")
        samples.append(ClassificationSample(
            video_id=vid, video_path=None, label_index=index[label] if label is not None else None,
            label_name=label, text=get(path, line, entry, "label", str, required=False),
            placeholders=tuple(str(p) for p in placeholders), line=line))
    return attach_videos(samples, lambda r: (r.video_id,), path, video_root, max_missing_ratio, names)


def _read_split(config: DatasetConfig, split: str) -> Records[ClassificationSample]:
    key = config.source(split)
    answers = config.path("test_answers") if key == "test" and config.get("test_answers") is not None else None
    return read_ssv2(config.path(key), config.path("labels"), config.video_root, answers_path=answers,
                     max_missing_ratio=config.max_missing_ratio)


register_format(DatasetFormat(
    "ssv2", LABELLED_CLIPS, _read_split, required=("labels", "video_root"), optional=(*SPLITS, "test_answers"),
    class_names=lambda c: read_ssv2_labels(c.path("labels")),
    unlabelled_hint="SSv2's test labels come from dataset.test_answers (test-answers.csv)",
    # "Pushing something from left to right": a mirrored clip shows the other class
    flip_safe=False))
