"""What a task is to the engine: a data contract, a head, a loss and metrics.

A :class:`Task` is an ``nn.Module`` (its parameters are the task head's: a classifier, a
similarity head) that the engine (:mod:`vidlift.engine`) drives with a
:class:`~vidlift.transfer.TransferModel`. It never knows which backbone or which transfer
strategy it runs on: it sees clip embeddings, class/text embeddings and logits only.

Batches are dicts. Every task's datasets yield samples with at least ``video`` (T, 3, S, S)
float and ``index`` (int, position in the split); :func:`collate_clips` stacks them and drops
samples whose video failed to decode (``{"index": i, "error": "..."}``), reporting each once.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..data.transforms import VideoTransform
from ..data.video import FrameSampler, VideoDecodeError, read_video

log = logging.getLogger(__name__)


class VideoClips(Dataset):
    """Decoded, preprocessed clips of ``paths`` (``None`` entries fail cleanly).

    Item ``i`` is ``{"index": i, "video": (T, 3, S, S)}`` or ``{"index": i, "error": msg}``.
    The frame sampler's randomness (train mode) is a function of (seed, epoch, i), so a run is
    reproducible and a resumed run sees the same frames as an uninterrupted one; the engine
    calls :meth:`set_epoch` at the start of every epoch.
    """

    def __init__(self, paths: Sequence[Path | None], sampler: FrameSampler, transform: VideoTransform,
                 backend: str = "pyav", seed: int = 0) -> None:
        self.paths = list(paths)
        self.sampler = sampler
        self.transform = transform
        self.backend = backend
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def clip(self, i: int) -> dict[str, Any]:
        path = self.paths[i]
        if path is None:
            return {"index": i, "error": "no video file for this entry"}
        rng = np.random.default_rng((self.seed, self.epoch, i))
        try:
            video = read_video(path, self.sampler, backend=self.backend, rng=rng)
        except (VideoDecodeError, ValueError, FileNotFoundError) as e:
            return {"index": i, "error": f"{path}: {type(e).__name__}: {e}"}
        return {"index": i, "video": self.transform(video.frames)}

    def __getitem__(self, key: "int | tuple[int, int]") -> dict[str, Any]:
        epoch, i = split_key(key)
        if epoch is not None:
            self.epoch = epoch
        return self.clip(i)


def split_key(key: "int | tuple[int, int]") -> tuple[int | None, int]:
    """Dataset keys are an index, or (epoch, index) from the engine's sampler, so that a
    dataset in a worker process knows the epoch without being told by the main process."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return None, int(key)


_reported: set[str] = set()


def collate_clips(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Stack samples into a batch: tensors are stacked, ints become a LongTensor, strings and
    other values stay lists. Samples with ``error`` are dropped (and logged once); a batch with
    no sample left is ``None``, which the engine skips."""
    good = []
    for s in samples:
        if "error" in s:
            if s["error"] not in _reported:
                _reported.add(s["error"])
                log.warning("skipping a video that does not decode: %s", s["error"])
            continue
        good.append(s)
    if not good:
        return None
    out: dict[str, Any] = {}
    for key in good[0]:
        values = [s[key] for s in good]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], (int, np.integer)) and not isinstance(values[0], bool):
            out[key] = torch.tensor(values, dtype=torch.long)
        else:
            out[key] = values
    return out


@dataclass
class StepOutput:
    """A training step's result: the loss to minimise and scalars to log."""

    loss: torch.Tensor
    logs: dict[str, float]


class Task(nn.Module, ABC):
    """Base of every task. Subclasses set ``name`` and implement the abstract methods.

    Life cycle, driven by the engine: ``setup(model)`` once (build heads that need the joint
    space size or the class names' text embeddings), then ``dataset(split)`` for "train",
    "val", "test" (and "predict"), ``training_step`` per training batch, ``evaluation_step``
    per val/test batch (returns tensors the engine gathers), ``compute_metrics`` on the gathered
    outputs at the end of an epoch, ``predict_step`` for ``vidlift predict``.
    """

    name: ClassVar[str]

    @abstractmethod
    def setup(self, model: "Any") -> None:
        """Build the head for ``model`` (a TransferModel)."""

    @abstractmethod
    def dataset(self, split: str, transform: VideoTransform) -> Dataset:
        """The split's dataset ("train", "val", "test", "predict"), yielding VideoClips-style dicts."""

    def set_epoch(self, epoch: int) -> None:
        """Called by the engine at the start of every training epoch."""

    @abstractmethod
    def training_step(self, model: "Any", batch: dict[str, Any]) -> StepOutput: ...

    @abstractmethod
    def evaluation_step(self, model: "Any", batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Per-batch outputs to gather (tensors with the batch on dim 0)."""

    @abstractmethod
    def compute_metrics(self, outputs: dict[str, torch.Tensor], split: str) -> dict[str, float]:
        """Metrics from the outputs of a whole split (each key concatenated over batches)."""

    def predict_step(self, model: "Any", batch: dict[str, Any]) -> list[dict[str, Any]]:
        """One JSON-able record per sample (``vidlift predict``)."""
        raise NotImplementedError(f"task {self.name!r} has no predict step")

    def example_batch(self, transform: VideoTransform, num_frames: int) -> dict[str, Any]:
        """One clip of zeros shaped like a real batch, for counting FLOPs per clip."""
        s = transform.size
        return {"video": torch.zeros(1, num_frames, 3, s, s), "index": torch.zeros(1, dtype=torch.long)}


__all__ = ["Task", "StepOutput", "VideoClips", "collate_clips", "split_key"]
