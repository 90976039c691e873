"""Readers for the public video-dataset annotation formats.

Each reader takes an annotation file and, optionally, the video root, and returns
:class:`Records` (a list with ``.classes``, ``.missing`` and ``.source``) of typed records.
Problems raise :class:`AnnotationError` naming file and line. Videos absent from the root are
dropped and listed in ``.missing`` up to ``max_missing_ratio`` (default 5%), beyond which
:class:`MissingVideosError` is raised.

>>> from vidlift.data.datasets import read_kinetics
>>> train = read_kinetics("k400/train.csv", "k400/videos")
>>> val = read_kinetics("k400/validate.csv", "k400/videos", classes=train.classes)

Each reader module also registers its format(s) with one line at its end
(:func:`~.registry.register_format`): the ``dataset:`` mapping of a task config names a format,
and tasks read it through :class:`~.registry.DatasetConfig` without knowing which it is.
Importing this package registers every format below; a new one is a module here ending with its
``register_format`` line, plus its import below.
"""

from .activitynet import read_activitynet_captions, read_activitynet_grounding
from .charades_sta import read_charades_durations, read_charades_sta
from .common import DEFAULT_MAX_MISSING_RATIO, VideoIndex
from .didemo import read_didemo
from .errors import AnnotationError, MissingVideosError
from .hmdb51 import read_hmdb51
from .kinetics import read_kinetics
from .msrvtt import read_msrvtt, read_msrvtt_1ka, read_msrvtt_qa
from .msrvtt_mc import read_msrvtt_mc
from .msvd import read_msvd
from .msvd_qa import read_msvd_qa, read_youtube_mapping
from .nextqa import QUESTION_TYPES, read_nextqa
from .qvhighlights import read_qvhighlights
from .records import CaptionedVideo, ClassificationSample, GroundingQuery, MissingVideo, QASample, Records
from .registry import (
                       CAPTIONED_VIDEOS,
                       FORMATS,
                       LABELLED_CLIPS,
                       MOMENT_QUERIES,
                       QUESTIONS,
                       DatasetConfig,
                       DatasetFormat,
                       get_format,
                       register_format,
)
from .ssv2 import read_ssv2, read_ssv2_labels
from .tacos import read_tacos
from .ucf101 import read_ucf101, read_ucf101_classes

__all__ = [
    "CAPTIONED_VIDEOS",
    "DEFAULT_MAX_MISSING_RATIO",
    "FORMATS",
    "LABELLED_CLIPS",
    "MOMENT_QUERIES",
    "QUESTIONS",
    "QUESTION_TYPES",
    "AnnotationError",
    "CaptionedVideo",
    "ClassificationSample",
    "DatasetConfig",
    "DatasetFormat",
    "GroundingQuery",
    "MissingVideo",
    "MissingVideosError",
    "QASample",
    "Records",
    "VideoIndex",
    "get_format",
    "read_activitynet_captions",
    "read_activitynet_grounding",
    "read_charades_durations",
    "read_charades_sta",
    "read_didemo",
    "read_hmdb51",
    "read_kinetics",
    "read_msrvtt",
    "read_msrvtt_1ka",
    "read_msrvtt_mc",
    "read_msrvtt_qa",
    "read_msvd",
    "read_msvd_qa",
    "read_nextqa",
    "read_qvhighlights",
    "read_ssv2",
    "read_ssv2_labels",
    "read_tacos",
    "read_ucf101",
    "read_ucf101_classes",
    "read_youtube_mapping",
    "register_format",
]
