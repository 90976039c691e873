"""A new annotation format in one file, registered with one line (the last): a plain list per
split, ``<video file> <class name>`` per line, with a class list of one name per line.

It exists to prove the extension point (tests/tasks/test_dataset_formats.py): no task, reader
or registry file of vidlift changes for a task to train and evaluate on it.
"""

from __future__ import annotations

from vidlift.data.datasets import (
    LABELLED_CLIPS,
    ClassificationSample,
    DatasetConfig,
    DatasetFormat,
    Records,
    register_format,
)
from vidlift.data.datasets.common import load_class_list
from vidlift.data.datasets.registry import SPLITS


def class_names(config: DatasetConfig) -> tuple[str, ...]:
    return load_class_list(config.path("classes"))


def read_split(config: DatasetConfig, split: str) -> Records[ClassificationSample]:
    path = config.path(config.source(split))
    classes = class_names(config)
    index = {name: i for i, name in enumerate(classes)}
    samples = []
    for line, text in enumerate(path.read_text().splitlines(), 1):
        if text.strip():
            video, name = text.split(maxsplit=1)
            samples.append(ClassificationSample(video.rsplit(".", 1)[0], config.video_root / video, index[name], name,
                                                line=line))
    return Records(samples, source=path, classes=classes)


register_format(DatasetFormat("toy_list", LABELLED_CLIPS, read_split, required=("video_root", "classes"),
                              optional=SPLITS, one_of=(SPLITS,), class_names=class_names))
