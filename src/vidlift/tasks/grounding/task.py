"""The grounding task: under construction (issue 10). Building it fails with a clear error until
its implementation lands."""

from __future__ import annotations

from typing import Any

from ...data.datasets import MOMENT_QUERIES
from ..base import Task


class GroundingTask(Task):
    """Placeholder: refuses to build until the task is implemented."""

    name = "grounding"
    dataset_kind = MOMENT_QUERIES

    def __init__(self, **kwargs: Any) -> None:
        raise NotImplementedError("the grounding task is not implemented yet")
