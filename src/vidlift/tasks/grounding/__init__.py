"""Temporal grounding (moment retrieval + highlight detection): the task, its data, its heads
(:mod:`.heads` contract; Moment-DETR in :mod:`.moment_detr`), metrics and a predictor."""

from .task import GroundingTask

__all__ = ["GroundingTask"]
