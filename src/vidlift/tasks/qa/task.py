"""The qa task: under construction (issue 10). Building it fails with a clear error until
its implementation lands."""

from __future__ import annotations

from typing import Any

from ...data.datasets import QUESTIONS
from ..base import Task


class QATask(Task):
    """Placeholder: refuses to build until the task is implemented."""

    name = "qa"
    dataset_kind = QUESTIONS

    def __init__(self, **kwargs: Any) -> None:
        raise NotImplementedError("the qa task is not implemented yet")
