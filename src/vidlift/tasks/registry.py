"""Every task, one line each: ``name -> class``; the engine builds them from a config's ``task:``."""

from __future__ import annotations

from typing import Any

from .base import Task
from .captioning.task import CaptioningTask
from .grounding.task import GroundingTask
from .qa.task import QATask
from .recognition.task import RecognitionTask
from .retrieval.task import RetrievalTask

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (
    RecognitionTask,
    RetrievalTask,
    GroundingTask,
    QATask,
    CaptioningTask,
)}


def build_task(config: dict[str, Any]) -> Task:
    """``{"name": ..., **kwargs}`` -> a Task; unknown names and keys fail with the known ones."""
    config = dict(config)
    name = config.pop("name")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    try:
        return TASKS[name](**config)
    except TypeError as e:
        raise ValueError(f"task {name!r}: {e}") from e
