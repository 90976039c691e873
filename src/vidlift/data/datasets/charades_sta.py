"""Charades-STA (Gao, Sun, Yang & Nevatia, "TALL: Temporal Activity Localization via Language
Query", ICCV 2017): ``charades_sta_train.txt`` / ``charades_sta_test.txt``.

One query per line, ``<vid> <start> <end>##<sentence>`` with seconds ("3MSZA 24.3 30.4##person
turn a light on."). The release gives no durations: they come from the ``length`` column of the
Charades CSVs (Sigurdsson et al., ECCV 2016: ``Charades_v1_train.csv`` / ``Charades_v1_test.csv``,
columns ``id,subject,scene,...,length``). As 2D-TAN's loader (github.com/microsoft/2D-TAN,
``lib/datasets/charades.py``) does, the sentence's trailing period is stripped, the end is
clipped to the duration, and a query whose start is not before its (clipped) end is left out —
four in the train file; 2D-TAN drops them silently, vidlift warns, naming their lines.

``qid`` is ``"{vid}_{line}"`` (unique per file, stable while the file is unchanged). Lighthouse's
converted copy numbers queries across both files instead; Charades-STA has no id of its own.
Videos are ``{vid}.mp4`` (the Charades download; any extension is accepted).

Features: one per second by default (``clip_length: 1.0``), the rate R²-Tuning (Liu et al.,
ECCV 2024; github.com/yeliudev/R2-Tuning ``configs/_base_/datasets/charades.py``: ``fps=1``) and
lighthouse (github.com/line/lighthouse, ``configs/base.yml``: ``clip_length: 1``, which its
Charades config keeps) use for Charades-STA's short videos (30 s on average), where
QVHighlights' 2 s clips would leave a dozen features per video.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, number, read_csv, read_text, warn_dropped
from .errors import AnnotationError
from .records import GroundingQuery, Records
from .registry import MOMENT_QUERIES, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format

DEFAULT_CLIP_LENGTH = 1.0
Durations = Mapping[str, float]


def read_charades_durations(csv_paths: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, float]:
    """``{video id: length in seconds}`` from Charades CSVs (``id`` and ``length`` columns).

    Raises:
        AnnotationError: naming file and line, for a missing column, an empty id, a length that
            is not a positive number, or an id listed twice with different lengths.
    """
    paths = [csv_paths] if isinstance(csv_paths, (str, os.PathLike)) else list(csv_paths)
    if not paths:
        raise ValueError("read_charades_durations: no CSV file given")
    durations: dict[str, float] = {}
    where: dict[str, str] = {}
    for p in paths:
        path = Path(p)
        for line, row in read_csv(path, ("id", "length")):
            vid = row["id"].strip()
            if not vid:
                raise AnnotationError(path, line, "empty id")
            length = number(path, line, row, "length")
            if not length > 0:
                raise AnnotationError(path, line, f"{vid}: length must be positive, got {row['length']!r}")
            if vid in durations and durations[vid] != length:
                raise AnnotationError(path, line, f"{vid}: length {length:g} differs from {durations[vid]:g} "
                                                  f"given at {where[vid]}")
            durations[vid], where[vid] = length, f"{path}:{line}"
    return durations


def _parse_line(path: Path, line: int, text: str) -> tuple[str, float, float, str]:
    head, sep, sentence = text.partition("##")
    if not sep:
        raise AnnotationError(path, line, f"expected '<vid> <start> <end>##<sentence>', got {text!r}")
    fields = head.split()
    if len(fields) != 3:
        raise AnnotationError(path, line, f"expected '<vid> <start> <end>' before '##', got {head!r}")
    vid, start, end = fields
    try:
        s, e = float(start), float(end)
    except ValueError:
        raise AnnotationError(path, line, f"start and end should be seconds, got {start!r} and {end!r}") from None
    if s < 0:
        raise AnnotationError(path, line, f"start {s:g} is negative")
    sentence = sentence.strip()
    sentence = sentence[:-1].rstrip() if sentence.endswith(".") else sentence
    if not sentence:
        raise AnnotationError(path, line, "empty sentence")
    return vid, s, e, sentence


def read_charades_sta(
    txt_path: str | os.PathLike,
    durations: Durations | str | os.PathLike | Sequence[str | os.PathLike],
    video_root: str | os.PathLike | None = None,
    *,
    clip_length: float = DEFAULT_CLIP_LENGTH,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[GroundingQuery]:
    """Read a Charades-STA file, in file order.

    Args:
        durations: the Charades CSV(s) (one path or several: train and test videos are in
            different files) or ``{vid: seconds}`` as from :func:`read_charades_durations`.
        clip_length: seconds per feature clip (default 1, see the module docstring).
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Returns:
        ``Records`` of :class:`GroundingQuery`, each with one relevant window and no saliency.

    Raises:
        AnnotationError: naming file and line, for a line not of the form above, a negative
            start, an empty sentence, or a video without a duration in the CSVs.
    """
    path = Path(txt_path)
    if not isinstance(durations, Mapping):
        sources = [durations] if isinstance(durations, (str, os.PathLike)) else list(durations)
        durations = read_charades_durations(sources)
        where = ", ".join(str(p) for p in sources)
    else:
        where = "the given durations"
    records, empty_at, total = [], [], 0
    for line, raw in enumerate(read_text(path).splitlines(), 1):
        if not raw.strip():
            continue
        vid, start, end, sentence = _parse_line(path, line, raw)
        total += 1
        if vid not in durations:
            raise AnnotationError(path, line, f"video {vid} has no length in {where}")
        duration = float(durations[vid])
        end = min(end, duration)
        if start >= end:
            empty_at.append((line, vid))
            continue
        records.append(GroundingQuery(qid=f"{vid}_{line}", query=sentence, video_id=vid, video_path=None,
                                      duration=duration, relevant_windows=((start, end),), clip_length=clip_length,
                                      line=line))
    warn_dropped(path, empty_at, total, "whose start is not before their end clipped to the video's length")
    return attach_videos(records, lambda r: (r.video_id,), path, video_root, max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[GroundingQuery]:
    """``durations``: the Charades CSV(s)."""
    durations = config.paths("durations")
    return read_files(config, split, lambda p: read_charades_sta(
        p, durations, config.video_root, clip_length=float(config.get("clip_length", DEFAULT_CLIP_LENGTH)),
        max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("charades_sta", MOMENT_QUERIES, _read_split, required=("durations",),
                              optional=(*SPLITS, "clip_length"), one_of=(SPLITS,)))
