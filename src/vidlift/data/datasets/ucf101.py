"""UCF101 (Soomro, Zamir & Shah, "UCF101: A Dataset of 101 Human Actions Classes From Videos in
The Wild", CRCV-TR-12-01, 2012): the official ``ucfTrainTestlist/`` split files.

- ``classInd.txt``: ``<index> <ClassName>`` per line, indices 1..101 ("1 ApplyEyeMakeup").
- ``trainlist0{1,2,3}.txt``: ``<ClassName>/<video>.avi <index>`` per line
  ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"), ``index`` as in ``classInd.txt``.
- ``testlist0{1,2,3}.txt``: ``<ClassName>/<video>.avi`` per line, no index: the class is the
  folder name.

The files have Windows line endings (either kind is read). Label indices here are 0-based
(``index - 1``), so ``.classes`` is ``classInd.txt`` in order. Videos are found as
``<ClassName>/<video>.*`` (the layout of the ``UCF-101`` archive) or ``<video>.*`` anywhere
under the video root; ``video_id`` is the file name without extension ("v_ApplyEyeMakeup_g08_c01").
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, read_text
from .errors import AnnotationError
from .records import ClassificationSample, Records
from .registry import LABELLED_CLIPS, SPLITS, DatasetConfig, DatasetFormat, camel_case_class_text, register_format

SUBSETS = ("train", "test")


def read_ucf101_classes(class_index: str | os.PathLike) -> tuple[str, ...]:
    """Class names in label order from ``classInd.txt``; its indices must run 1, 2, ... N."""
    path = Path(class_index)
    names: list[str] = []
    for line, raw in enumerate(read_text(path).splitlines(), 1):
        if not raw.strip():
            continue
        parts = raw.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(path, line, f"expected '<index> <ClassName>', got {raw.strip()!r}")
        if int(parts[0]) != len(names) + 1:
            raise AnnotationError(path, line, f"expected index {len(names) + 1}, got {parts[0]} "
                                              "(indices must run 1, 2, ... in order)")
        if parts[1] in names:
            raise AnnotationError(path, line, f"class {parts[1]!r} listed twice (first as {names.index(parts[1]) + 1})")
        names.append(parts[1])
    if not names:
        raise AnnotationError(path, None, "empty file, expected '<index> <ClassName>' lines")
    return tuple(names)


def read_ucf101(
    split_file: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    class_index: str | os.PathLike | None = None,
    split: int = 1,
    subset: str = "train",
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[ClassificationSample]:
    """Read a UCF101 train or test list.

    Args:
        split_file: ``trainlist0k.txt`` / ``testlist0k.txt``, or the ``ucfTrainTestlist`` folder,
            in which case ``split`` (1-3) and ``subset`` ("train" or "test") pick the file.
        class_index: ``classInd.txt``; default: the one next to the list.
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Returns:
        ``Records`` of :class:`ClassificationSample` (``split`` "train"/"test" from the file
        name) with ``.classes`` from ``classInd.txt``.

    Raises:
        AnnotationError: naming file and line, for a malformed line, a class folder not in
            ``classInd.txt``, an index that disagrees with the folder, or a video listed twice.
    """
    path = Path(split_file)
    if path.is_dir():
        if subset not in SUBSETS or split not in (1, 2, 3):
            raise ValueError(f"subset must be one of {SUBSETS} and split 1, 2 or 3; got {subset!r}, {split!r}")
        path = path / f"{subset}list{split:02d}.txt"
    index_path = Path(class_index) if class_index is not None else path.parent / "classInd.txt"
    names = read_ucf101_classes(index_path)
    index = {n: i for i, n in enumerate(names)}
    kind = next((s for s in SUBSETS if path.name.lower().startswith(f"{s}list")), None)
    samples, seen = [], {}
    for line, raw in enumerate(read_text(path).splitlines(), 1):
        parts = raw.split()
        if not parts:
            continue
        folder, _, name = parts[0].partition("/")
        if len(parts) > 2 or not folder or not name or "/" in name:
            raise AnnotationError(path, line, f"expected '<ClassName>/<video>.avi [<index>]', got {raw.strip()!r}")
        if folder not in index:
            raise AnnotationError(path, line, f"class folder {folder!r} is not a class of {index_path}")
        if len(parts) == 2:
            if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(names):
                raise AnnotationError(path, line, f"class index should be 1..{len(names)}, got {parts[1]!r}")
            if names[int(parts[1]) - 1] != folder:
                raise AnnotationError(path, line, f"index {parts[1]} is {names[int(parts[1]) - 1]!r} in "
                                                  f"{index_path.name} but the video is in folder {folder!r}")
        vid = os.path.splitext(name)[0]
        if vid in seen:
            raise AnnotationError(path, line, f"video {vid!r} listed twice (first on line {seen[vid]})")
        seen[vid] = line
        samples.append(ClassificationSample(video_id=vid, video_path=None, label_index=index[folder],
                                            label_name=folder, split=kind, line=line))
    return attach_videos(samples, lambda r: (f"{r.label_name}/{r.video_id}", r.video_id), path, video_root,
                         max_missing_ratio, names)


def _source(config: DatasetConfig, split: str) -> str | None:
    """A split's own list file, else: predict reads the test list, val the test list (UCF101
    has no validation split), and any split its file in the ``splits`` folder."""
    if config.get(split) is not None:
        return split
    if split == "predict":
        return _source(config, "test")
    if split == "val" and config.get("test") is not None:
        return "test"
    return "splits" if config.get("splits") is not None else None


def _read_split(config: DatasetConfig, split: str) -> Records[ClassificationSample]:
    index = config.path("class_index") if config.get("class_index") is not None else None
    return read_ucf101(config.path(config.source(split)), config.video_root, class_index=index,
                       split=int(config.get("split", 1)), subset="train" if split == "train" else "test",
                       max_missing_ratio=config.max_missing_ratio)


register_format(DatasetFormat(
    "ucf101", LABELLED_CLIPS, _read_split, required=("video_root",),
    optional=("splits", "split", *SPLITS, "class_index"), one_of=(("splits", "train", "test"),),
    split_source=_source, class_text=camel_case_class_text))
