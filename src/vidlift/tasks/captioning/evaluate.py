"""Score a captioning prediction file against MSR-VTT or MSVD ground truth (``vidlift evaluate
--task captioning``), from vidlift or any other model.

- predictions: JSON lines ``{"video_id": ..., "caption": ...}``, one per video (what
  ``vidlift predict`` writes for the captioning task);
- ground truth: an MSR-VTT ``*_videodatainfo.json`` (or CLIP4Clip's ``MSRVTT_data.json``; every
  video of the file, whatever its split) or an MSVD captions file (``AllVideoDescriptions.txt``
  format, ``<video_id> <caption>`` lines), read by the dataset readers.

Every predicted video is scored against all its captions (:func:`.metrics.caption_metrics`);
ground-truth videos without a prediction are not scored (``num_videos`` says how many were).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...data.datasets.common import read_jsonl
from ...data.datasets.errors import AnnotationError
from ...data.datasets.msrvtt import read_msrvtt
from ...data.datasets.msvd import read_msvd
from .metrics import METRICS, caption_metrics


def read_predictions(path: str | Path) -> dict[str, str]:
    """``{video_id: caption}`` from a JSONL file; errors name the file and line."""
    return _read_predictions(path)[0]


def _read_predictions(path: str | Path) -> tuple[dict[str, str], dict[str, int]]:
    """Captions and the line of each video's prediction."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"captioning predictions not found: {path}")
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for line, row in read_jsonl(path):
        for key in ("video_id", "caption"):
            if key not in row:
                raise AnnotationError(path, line, f"missing {key!r} (a line is {{\"video_id\", \"caption\"}})")
        vid, cap = row["video_id"], row["caption"]
        if not isinstance(vid, (str, int)) or isinstance(vid, bool) or not isinstance(cap, str):
            raise AnnotationError(path, line, "video_id must be a string and caption a string")
        vid = str(vid)
        if vid in first:
            raise AnnotationError(path, line, f"video {vid!r} predicted twice (first on line {first[vid]})")
        first[vid] = line
        out[vid] = cap
    if not out:
        raise AnnotationError(path, None, "no prediction in the file")
    return out, first


def read_ground_truth(path: str | Path) -> dict[str, list[str]]:
    """``{video_id: captions}`` from an MSR-VTT json or an MSVD captions file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"captioning ground truth not found: {path}")
    records = read_msrvtt(path) if path.suffix.lower() == ".json" else read_msvd(path)
    return {r.video_id: list(r.captions) for r in records}


def evaluate_files(predictions: str | Path, ground_truth: str | Path,
                   metrics: Sequence[str] = METRICS) -> dict[str, float]:
    """BLEU-4, METEOR, ROUGE-L, CIDEr (× 100) and ``num_videos`` of a prediction file.

    Raises:
        AnnotationError: naming the predictions file and line, for a malformed line, a
            duplicate video, or a video the ground truth does not have.
    """
    refs = read_ground_truth(ground_truth)
    preds, lines = _read_predictions(predictions)
    for vid in preds:
        if vid not in refs:
            raise AnnotationError(predictions, lines[vid], f"video {vid!r} is not in the ground truth {ground_truth}")
        if not refs[vid]:
            raise AnnotationError(ground_truth, None, f"video {vid!r} has no captions")
    return caption_metrics(preds, refs, metrics)


__all__ = ["evaluate_files", "read_predictions", "read_ground_truth"]
