"""Kinetics-400/600/700 CSVs: ``label,youtube_id,time_start,time_end,split`` (+ ``is_cc``).

Test CSVs of some releases have no ``label`` column; their samples come unlabelled. Clips
are found as ``{youtube_id}_{time_start:06d}_{time_end:06d}.*`` (the downloaders' naming) or
``{youtube_id}.*``, in any sub-folder of the video root (per split, per class ...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, load_class_list, number, read_csv
from .errors import AnnotationError
from .records import ClassificationSample, Records
from .registry import LABELLED_CLIPS, SPLITS, DatasetConfig, DatasetFormat, register_format

COLUMNS = ("youtube_id", "time_start", "time_end")


def read_kinetics(
    csv_path: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    classes: Sequence[str] | str | os.PathLike | None = None,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[ClassificationSample]:
    """Read a Kinetics CSV.

    Args:
        video_root: folder holding the clips; ``None`` reads annotations only (``video_path``
            stays ``None``), e.g. for pre-extracted features.
        classes: class names in index order (a sequence or a file with one per line). Pass the
            training set's ``.classes`` when reading val/test so indices agree. Default: the
            sorted labels of this file (the usual Kinetics indexing).
        max_missing_ratio: share of clips that may be absent (they are dropped and listed in
            ``.missing``); more raises :class:`MissingVideosError`.

    Returns:
        ``Records`` of :class:`ClassificationSample` with ``.classes``.

    Raises:
        AnnotationError: naming file and line, for a missing column or field, a bad time, or
            a label not in ``classes``.
    """
    path = Path(csv_path)
    rows = list(read_csv(path, COLUMNS))
    labelled = bool(rows) and "label" in rows[0][1]
    if classes is not None:
        names = load_class_list(classes)
    else:
        names = tuple(sorted({row["label"].strip() for _, row in rows})) if labelled else ()
    index = {n: i for i, n in enumerate(names)}
    samples = []
    for line, row in rows:
        yid = row["youtube_id"].strip()
        if not yid:
            raise AnnotationError(path, line, "empty youtube_id")
        start, end = number(path, line, row, "time_start"), number(path, line, row, "time_end")
        if not 0 <= start < end:
            raise AnnotationError(path, line, f"time_start {row['time_start']} must be >= 0 and before "
                                              f"time_end {row['time_end']}")
        label = row["label"].strip() if labelled else None
        if label is not None and label not in index:
            raise AnnotationError(path, line, f"unknown label {label!r} (not among the {len(names)} classes)")
        s, e = int(start), int(end)  # file names carry whole seconds
        samples.append(ClassificationSample(
            video_id=f"{yid}_{s:06d}_{e:06d}", video_path=None,
            label_index=index[label] if label is not None else None, label_name=label,
            split=row.get("split", "").strip() or None, time_start=start, time_end=end, line=line))
    return attach_videos(samples, lambda r: (r.video_id, r.video_id.rsplit("_", 2)[0]), path, video_root,
                         max_missing_ratio, names)


def _class_list(config: DatasetConfig, key: str) -> Sequence[str] | os.PathLike | None:
    """The classes every split indexes: ``classes``, else the train split's, else (zero-shot
    evaluation, no train split) the sorted union of the labels of all configured splits."""
    if config.get("classes") is not None:
        return config.path("classes")
    if key == "train":
        return None
    if config.has_split("train"):
        return config.records("train").classes
    names: set[str] = set()
    for other in ("val", "test", "predict"):
        if config.get(other) is not None:
            names |= set(read_kinetics(config.path(other), None, max_missing_ratio=1.0).classes)
    return tuple(sorted(names))


def _read_split(config: DatasetConfig, split: str) -> Records[ClassificationSample]:
    key = config.source(split)
    return read_kinetics(config.path(key), config.video_root, classes=_class_list(config, key),
                         max_missing_ratio=config.max_missing_ratio)


register_format(DatasetFormat(
    "kinetics", LABELLED_CLIPS, _read_split, required=("video_root",), optional=(*SPLITS, "classes"),
    one_of=(SPLITS,), class_names=lambda c: load_class_list(c.path("classes")) if c.get("classes") else None))
