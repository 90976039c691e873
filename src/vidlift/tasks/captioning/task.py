"""The captioning task: under construction (issue 10). Building it fails with a clear error until
its implementation lands."""

from __future__ import annotations

from typing import Any

from ...data.datasets import CAPTIONED_VIDEOS
from ..base import Task


class CaptioningTask(Task):
    """Placeholder: refuses to build until the task is implemented."""

    name = "captioning"
    dataset_kind = CAPTIONED_VIDEOS

    def __init__(self, **kwargs: Any) -> None:
        raise NotImplementedError("the captioning task is not implemented yet")
