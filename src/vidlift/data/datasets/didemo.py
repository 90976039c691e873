"""DiDeMo, Distinct Describable Moments (Hendricks, Wang, Shechtman, Sivic, Darrell & Russell,
"Localizing Moments in Video with Natural Language", ICCV 2017): the official
``train_data.json`` / ``val_data.json`` / ``test_data.json``.

Each file is a JSON list of descriptions, ``{"annotation_id", "description", "video", "times",
...}`` (plus ``num_segments`` and a download link). ``video`` is the Flickr file name with its
original extension ("12090392@N02_13482799053_87ef417396.mov"); ``times`` has one ``[s, e]`` per
annotator (one in train, four in val/test): indices of the video's 5-second segments, both
inclusive, 0-5 (annotators saw the first 30 s, six segments). ``[s, e]`` is read as the seconds
``[5 s, 5 (e + 1))``; the last segment of a video shorter than 30 s ends past the video.

Text-to-video retrieval (CLIP4Clip, CLIP2Video ...) treats DiDeMo as paragraph retrieval: a
video's descriptions, in file order, joined by spaces into one query for the whole video.
Videos are found as ``<video>.*`` (e.g. ``x.mov.mp4``) or with the extension replaced
(``x.mp4``), anywhere under the video root.
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, get, read_json_array
from .errors import AnnotationError
from .records import CaptionedVideo, Records
from .registry import CAPTIONED_VIDEOS, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format

SEGMENT_SECONDS = 5.0
NUM_SEGMENTS = 6


def _first_moment(path: Path, line: int, times: list) -> tuple[float, float]:
    if not times:
        raise AnnotationError(path, line, "'times' is empty, expected one [start, end] per annotator")
    for t in times:
        if not (isinstance(t, list) and len(t) == 2 and all(type(x) is int for x in t)):
            raise AnnotationError(path, line, f"a 'times' entry should be [start, end] segment indices, got {t!r}")
    s, e = times[0]
    if not 0 <= s <= e < NUM_SEGMENTS:
        raise AnnotationError(path, line, f"segments [{s}, {e}] should satisfy 0 <= start <= end <= "
                                          f"{NUM_SEGMENTS - 1}")
    return s * SEGMENT_SECONDS, (e + 1) * SEGMENT_SECONDS


def read_didemo(
    json_file: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    paragraph: bool = True,
    *,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[CaptionedVideo]:
    """Read DiDeMo descriptions.

    Args:
        paragraph: ``True``: one record per video, in order of first appearance, whose single
            caption is its descriptions joined in file order (``start``/``end`` ``None``: the
            whole video). ``False``: one record per description with ``start``/``end`` the
            seconds of the first annotator's moment (see above) and ``keys`` its
            ``annotation_id``.
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Returns:
        ``Records`` of :class:`CaptionedVideo`; ``split`` is the file name before ``_data``
        ("train", "val", "test"); ``line`` is where the (first) description opens.

    Raises:
        AnnotationError: naming file and line, for malformed JSON, a missing or mistyped key,
            or segment indices that are not ``0 <= start <= end <= 5``.
    """
    path = Path(json_file)
    split = path.stem.removesuffix("_data")
    moments, videos = [], {}
    for line, entry in read_json_array(path):
        video = get(path, line, entry, "video", str)
        if not video.strip():
            raise AnnotationError(path, line, "empty 'video'")
        description = get(path, line, entry, "description", str).strip()
        start, end = _first_moment(path, line, get(path, line, entry, "times", list))
        ann = get(path, line, entry, "annotation_id", (int, str), required=False)
        moments.append(CaptionedVideo(video_id=video, video_path=None, captions=(description,), split=split,
                                      start=start, end=end, keys=(str(ann),) if ann is not None else (),
                                      line=line))
        videos.setdefault(video, []).append(moments[-1])
    if paragraph:
        records = [CaptionedVideo(video_id=vid, video_path=None, split=split, line=ms[0].line,
                                  captions=(" ".join(m.captions[0] for m in ms if m.captions[0]),))
                   for vid, ms in videos.items()]
    else:
        records = moments
    return attach_videos(records, lambda r: (r.video_id, os.path.splitext(r.video_id)[0]), path, video_root,
                         max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[CaptionedVideo]:
    """``paragraph`` (default true) joins a video's sentences into one query."""
    return read_files(config, split, lambda p: read_didemo(p, config.video_root, bool(config.get("paragraph", True)),
                                                           max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("didemo", CAPTIONED_VIDEOS, _read_split, optional=(*SPLITS, "paragraph"),
                              one_of=(SPLITS,)))
