"""MSVD, the Microsoft Research Video Description Corpus (Chen & Dolan, "Collecting Highly Parallel
Data for Paraphrase Evaluation", ACL 2011), in the text formats of its retrieval split.

- Captions, ``AllVideoDescriptions.txt`` (the English descriptions published with
  ``YouTubeClips.tar``): ``#`` comment lines, then one ``<video_id> <caption>`` per line, the id
  being ``<youtube_id>_<start>_<end>`` ("-4wsuPCjDBc_5_15 a squirrel is eating a peanut in its
  shell"); a video's lines need not be adjacent.
- Split lists, ``train_list.txt`` / ``val_list.txt`` / ``test_list.txt`` (1200 / 100 / 670
  videos in the split CLIP4Clip and its successors use): one video id per line.

CLIP4Clip reads its captions from ``raw-captions.pkl`` (``{video_id: [[token, ...], ...]}``, each
caption's tokens joined by spaces) plus those split lists. vidlift never unpickles annotation
files (unpickling can run arbitrary code), so a ``.pkl`` is refused with a three-line recipe that
converts it, once, into the captions format above. Videos are ``<video_id>.avi`` (any extension
is accepted) under the video root.
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, read_text
from .errors import AnnotationError
from .records import CaptionedVideo, Records
from .registry import CAPTIONED_VIDEOS, SPLITS, DatasetConfig, DatasetFormat, read_files, register_format

PICKLE_SUFFIXES = (".pkl", ".pickle")
CONVERT_RECIPE = """\
import pickle  # only ever on a file you trust: unpickling runs code
caps = pickle.load(open("raw-captions.pkl", "rb"))
open("msvd_captions.txt", "w").writelines(f"{v} {' '.join(c)}\\n" for v, cs in caps.items() for c in cs)"""


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise AnnotationError(path, None, "vidlift never unpickles annotation files (a pickle can run arbitrary "
                                          "code). Convert it once to the '<video_id> <caption>' text format, "
                                          f"then read that:\n{CONVERT_RECIPE}")


def read_msvd(
    captions_file: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    split_list: str | os.PathLike | None = None,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[CaptionedVideo]:
    """Read MSVD videos with all their captions (in file order).

    Args:
        captions_file: ``AllVideoDescriptions.txt`` or a file in its format.
        split_list: ``train_list.txt`` / ``val_list.txt`` / ``test_list.txt``: keep only these
            videos, in the list's order, with ``split`` the file name before ``_list``
            ("train", "val", "test"). Default: every captioned video, in order of first caption,
            with ``split`` ``None``.
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Returns:
        ``Records`` of :class:`CaptionedVideo`; ``line`` is the line of a video's first caption.

    Raises:
        AnnotationError: naming file and line, for a ``.pkl`` file (see above), a line without a
            caption, a listed video without captions or listed twice, or an empty captions file.
    """
    path = Path(captions_file)
    _refuse_pickle(path)
    captions: dict[str, tuple[int, list[str]]] = {}
    for line, raw in enumerate(read_text(path).splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(None, 1)
        if len(parts) != 2:
            raise AnnotationError(path, line, f"expected '<video_id> <caption>', got {text!r}")
        captions.setdefault(parts[0], (line, []))[1].append(parts[1].strip())
    if not captions:
        raise AnnotationError(path, None, "no captions found (expected '<video_id> <caption>' lines)")
    order, split = list(captions), None
    if split_list is not None:
        list_path = Path(split_list)
        _refuse_pickle(list_path)
        split = list_path.stem.removesuffix("_list")
        order, listed = [], {}
        for line, raw in enumerate(read_text(list_path).splitlines(), 1):
            vid = raw.strip()
            if not vid:
                continue
            if len(vid.split()) != 1:
                raise AnnotationError(list_path, line, f"expected one video id per line, got {vid!r}")
            if vid in listed:
                raise AnnotationError(list_path, line, f"video {vid!r} listed twice (first on line {listed[vid]})")
            if vid not in captions:
                raise AnnotationError(list_path, line, f"video {vid!r} has no captions in {path}")
            listed[vid] = line
            order.append(vid)
    records = [CaptionedVideo(video_id=vid, video_path=None, captions=tuple(captions[vid][1]), split=split,
                              line=captions[vid][0]) for vid in order]
    return attach_videos(records, lambda r: (r.video_id,), path, video_root, max_missing_ratio)


def _read_split(config: DatasetConfig, split: str) -> Records[CaptionedVideo]:
    """The split keys name split lists (one video id per line); captions come from ``captions``."""
    return read_files(config, split, lambda p: read_msvd(config.path("captions"), config.video_root, split_list=p,
                                                         max_missing_ratio=config.max_missing_ratio))


register_format(DatasetFormat("msvd", CAPTIONED_VIDEOS, _read_split, required=("captions",), optional=SPLITS,
                              one_of=(SPLITS,)))
