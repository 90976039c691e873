"""What a task is to the engine: a data contract, a head, a loss and metrics.

A :class:`Task` is an ``nn.Module`` (its parameters are the task head's: a classifier, a
similarity head) that the engine (:mod:`vidlift.engine`) drives with a
:class:`~vidlift.transfer.TransferModel`. It never knows which backbone or which transfer
strategy it runs on: it sees clip embeddings, class/text embeddings and logits only, and it
reads its annotations through a :class:`~vidlift.data.datasets.DatasetConfig`, never knowing
which format they are in.

Batches are dicts. Every task's datasets are :class:`~vidlift.data.clips.VideoClips`: samples
with at least ``index`` (int, position in the split), ``video_id`` and ``video`` (T, 3, S, S)
float; :func:`~vidlift.data.clips.collate_clips` stacks them and drops (and reports once) the
error records of videos that do not decode.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data.clips import collate_clips
from ..data.datasets import DatasetConfig
from ..data.transforms import VideoTransform

if TYPE_CHECKING:
    from ..transfer import TransferModel


@dataclass
class StepOutput:
    """A training step's result: the loss to minimise and scalars to log."""

    loss: torch.Tensor
    logs: dict[str, float]


class Task(nn.Module, ABC):
    """Base of every task: everything the engine uses of one.

    Life cycle, driven by the engine:

    1. ``build_task(config)`` (:mod:`.registry`) constructs it from the YAML ``task:`` keys;
       the engine builds the :class:`~vidlift.transfer.TransferModel` for :attr:`frames`.
    2. ``setup(model)`` once: heads that need the joint-space size or class-text embeddings.
    3. ``has_split(split)`` (does the run validate?), then ``dataset(split, transform)`` for
       "train", "val", "test" or "predict", behind the engine's loaders.
    4. ``set_epoch(epoch)`` before every training epoch, ``training_step`` per training batch.
    5. ``evaluation_step`` per val/test batch (tensors the engine gathers across devices),
       ``compute_metrics`` on the gathered outputs of the whole split; ``views(split)`` clips
       per item for the FLOPs of multi-view testing.
    6. ``predict_step`` per batch of ``vidlift predict``.

    Subclasses set :attr:`name` and :attr:`frames` and implement the abstract methods.
    """

    name: ClassVar[str]
    # What the task's ``dataset`` mapping must provide (a kind of :mod:`vidlift.data.datasets.
    # registry`) and the keys the task itself reads from it, so that a config is checked
    # against the format registry before anything is built.
    dataset_kind: ClassVar[str | None] = None
    dataset_task_keys: ClassVar[tuple[str, ...]] = ()
    frames: int  # frames per clip: the engine builds the model for it and counts FLOPs per such clip
    # Metrics a run's one-line summary shows first (empty: all, in the task's order); every
    # metric is in metrics.json whatever this says.
    headline_metrics: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def setup(self, model: TransferModel) -> None:
        """Build the head for ``model`` (its joint space, its class prompt, its text encoder)."""

    @abstractmethod
    def has_split(self, split: str) -> bool:
        """Whether ``split`` ("train", "val", "test", "predict") is configured and usable; the
        engine skips validation when "val" is not."""

    @abstractmethod
    def dataset(self, split: str, transform: VideoTransform) -> Dataset:
        """The split's :class:`~vidlift.data.clips.VideoClips`, its frames preprocessed by
        ``transform`` (the backbone's). Items are keyed ``i`` or ``(epoch, i)``."""

    def follow_epochs(self, dataset: Dataset) -> Dataset:
        """Register ``dataset`` (one with a ``set_epoch(epoch)``) for :meth:`set_epoch`; returns it."""
        self.__dict__.setdefault("_epoch_datasets", []).append(dataset)
        return dataset

    def set_epoch(self, epoch: int) -> None:
        """Called by the engine at the start of every training epoch (for items keyed by a
        plain index; the engine's sampler also passes the epoch in each key): passes it on to
        every dataset registered with :meth:`follow_epochs`."""
        for ds in self.__dict__.get("_epoch_datasets", ()):
            ds.set_epoch(epoch)

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Items -> one batch (the engine's ``collate_fn``; it runs in loader workers). Default
        :func:`~vidlift.data.clips.collate_clips`; tasks whose items differ in length (whole
        videos for grounding) pad here and add masks. ``None`` (nothing decoded) is skipped."""
        return collate_clips(samples)

    def flip_safety(self) -> tuple[bool, str]:
        """Whether a left-right mirrored training clip keeps its annotation, and why: the
        engine's ``data.augment.flip: auto`` mirrors only when it does. Read from the task's
        :class:`~vidlift.data.datasets.DatasetConfig` (``self.data``,
        :meth:`~vidlift.data.datasets.DatasetConfig.flip_safety`); a task without one is not
        known to be safe."""
        data = getattr(self, "data", None)
        if isinstance(data, DatasetConfig):
            return data.flip_safety()
        return False, f"the {self.name} task declares no dataset to say so"

    @property
    def trains(self) -> bool:
        """Whether :meth:`training_step` has anything to train (False for an evaluation-only
        configuration such as a zero-shot head)."""
        return True

    @abstractmethod
    def training_step(self, model: TransferModel, batch: dict[str, Any]) -> StepOutput:
        """The loss of one training batch (task loss plus the strategies' auxiliary losses)."""

    @abstractmethod
    def evaluation_step(self, model: TransferModel, batch: dict[str, Any]) -> dict[str, torch.Tensor | list]:
        """Per-batch outputs to gather: tensors with the batch on dim 0 (concatenated over
        batches and devices), or lists with one JSON-able entry per item (extended), for
        outputs whose size differs from item to item (grounding's windows)."""

    @abstractmethod
    def compute_metrics(self, outputs: dict[str, torch.Tensor], split: str) -> dict[str, float]:
        """Metrics from the outputs of a whole split (each key concatenated over batches: a
        tensor, or a list for list outputs)."""

    def predict_step(self, model: TransferModel, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """One JSON-able record per sample (``vidlift predict``)."""
        raise NotImplementedError(f"task {self.name!r} has no predict step")

    def views(self, split: str) -> int:
        """Clips the model sees per item of ``split`` (multi-view testing); 1 by default."""
        return 1

    def example_batch(self, transform: VideoTransform, num_frames: int) -> dict[str, Any]:
        """One clip of zeros shaped like a real batch (1, T, 3, S, S). Meant for counting a
        step's FLOPs with the task head; the engine does not use it yet (its GFLOPs per clip
        count ``encode_video`` only)."""
        s = transform.size
        return {"video": torch.zeros(1, num_frames, 3, s, s), "index": torch.zeros(1, dtype=torch.long),
                "video_id": ["example"]}


__all__ = ["Task", "StepOutput"]
