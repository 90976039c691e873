"""HMDB51 (Kuehne, Jhuang, Garrote, Poggio & Serre, "HMDB: A Large Video Database for Human Motion
Recognition", ICCV 2011): the official three splits, ``testTrainMulti_7030_splits/``.

The folder holds one file per class and split (51 x 3 = 153), ``<class>_test_split<k>.txt``
("brush_hair_test_split1.txt"), listing every video of the class as ``<video>.avi <id>``
("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1"): id 1 = training, 2 = testing, 0 = not used
in split k (70 training and 30 testing videos per class). Class indices follow the alphabetical
order of the class names from the file names (the usual HMDB51 indexing). Videos are found as
``<class>/<video>.*`` (the layout of the unpacked ``hmdb51_org`` archives) or ``<video>.*``
anywhere under the video root; ``video_id`` is the file name without extension.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .common import DEFAULT_MAX_MISSING_RATIO, attach_videos, read_text
from .errors import AnnotationError
from .records import ClassificationSample, Records
from .registry import LABELLED_CLIPS, DatasetConfig, DatasetFormat, register_format

SUBSET_IDS = {"train": "1", "test": "2"}
_SPLIT_FILE = re.compile(r"(.+)_test_split([1-3])\.txt")


def read_hmdb51(
    splits_dir: str | os.PathLike,
    split: int = 1,
    subset: str = "train",
    video_root: str | os.PathLike | None = None,
    *,
    max_missing_ratio: float = DEFAULT_MAX_MISSING_RATIO,
) -> Records[ClassificationSample]:
    """Read the ``subset`` ("train" or "test") videos of HMDB51 split ``split`` (1-3).

    Args:
        splits_dir: the ``testTrainMulti_7030_splits`` folder.
        video_root, max_missing_ratio: as in :func:`~vidlift.data.datasets.read_kinetics`.

    Returns:
        ``Records`` of :class:`ClassificationSample` (``split`` = ``subset``), class by class in
        ``.classes`` order, each in file order; ``.source`` is ``splits_dir``.

    Raises:
        FileNotFoundError: ``splits_dir`` holds no ``<class>_test_split<split>.txt`` file.
        AnnotationError: naming the class file and line, for a malformed line, an id other than
            0, 1 or 2, or a video listed twice.
    """
    if subset not in SUBSET_IDS or split not in (1, 2, 3):
        raise ValueError(f"subset must be 'train' or 'test' and split 1, 2 or 3; got {subset!r}, {split!r}")
    folder = Path(splits_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such split folder")
    files = {}
    for p in folder.iterdir():
        m = _SPLIT_FILE.fullmatch(p.name)
        if m and m.group(2) == str(split):
            files[m.group(1)] = p
    if not files:
        raise FileNotFoundError(f"{folder}: no split files named <class>_test_split{split}.txt")
    names = tuple(sorted(files))
    samples = []
    for label, name in enumerate(names):
        path, seen = files[name], {}
        for line, raw in enumerate(read_text(path).splitlines(), 1):
            if not raw.strip():
                continue
            parts = raw.rsplit(None, 1)
            if len(parts) != 2:
                raise AnnotationError(path, line, f"expected '<video>.avi <id>', got {raw.strip()!r}")
            video, sid = parts[0].strip(), parts[1]
            if sid not in ("0", "1", "2"):
                raise AnnotationError(path, line, f"id should be 0 (unused), 1 (train) or 2 (test), got {sid!r}")
            vid = os.path.splitext(video)[0]
            if vid in seen:
                raise AnnotationError(path, line, f"video {vid!r} listed twice (first on line {seen[vid]})")
            seen[vid] = line
            if sid == SUBSET_IDS[subset]:
                samples.append(ClassificationSample(video_id=vid, video_path=None, label_index=label,
                                                    label_name=name, split=subset, line=line))
    return attach_videos(samples, lambda r: (f"{r.label_name}/{r.video_id}", r.video_id), folder, video_root,
                         max_missing_ratio, names)


def _read_split(config: DatasetConfig, split: str) -> Records[ClassificationSample]:
    """Every split reads the split folder: train its training videos, the others its test ones."""
    return read_hmdb51(config.path("splits"), int(config.get("split", 1)), "train" if split == "train" else "test",
                       config.video_root, max_missing_ratio=config.max_missing_ratio)


register_format(DatasetFormat(
    "hmdb51", LABELLED_CLIPS, _read_split, required=("splits", "video_root"), optional=("split",),
    split_source=lambda config, split: "splits"))
