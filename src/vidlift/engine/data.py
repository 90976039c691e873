"""Data loading for the engine: the task's split datasets behind DataLoaders whose order is a
function of (seed, epoch), so runs reproduce and resume exactly. The train split gets the
training augmentation of ``data.augment`` (:mod:`vidlift.data.augment`), seeded per (seed,
epoch, index) by the clip dataset; the other splits get the backbone's test transform."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.augment import AugmentError, build_train_transform
from ..tasks.base import Task
from .config import ConfigError

log = logging.getLogger(__name__)


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` keys — a seeded permutation per epoch when shuffling — so a
    dataset in any worker process knows the epoch (its randomness is keyed on it). Lightning
    calls :meth:`set_epoch` before every epoch. Under DDP, ``rank`` / ``world_size`` split the
    keys: padded to equal length for training (as DistributedSampler), unpadded for evaluation,
    so that gathered outputs hold every clip exactly once."""

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        if self.world_size > 1:
            if self.shuffle:  # training: pad to a multiple of the world size (equal steps per rank)
                order += order[: (-len(order)) % self.world_size]
            order = order[self.rank :: self.world_size]  # evaluation: every clip exactly once
        return iter((self.epoch, i) for i in order)

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.size
        if self.shuffle:
            return -(-self.size // self.world_size)
        return len(range(self.rank, self.size, self.world_size))


class _FirstBatchIterator:
    """Makes the loader's iterator at the first ``next``, not at ``iter``."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader, self.iterator = loader, None

    def __iter__(self) -> _FirstBatchIterator:
        return self

    def __next__(self) -> Any:
        if self.iterator is None:
            self.iterator = DataLoader.__iter__(self.loader)
        return next(self.iterator)


class EpochLoader(DataLoader):
    """A DataLoader whose iterator starts at the first batch. Lightning calls ``iter`` on the
    train loader when it estimates the run's steps, before it restores a resumed run's epoch
    and calls the sampler's ``set_epoch``; loader workers fetch their first keys as soon as the
    iterator exists, so the first epoch of a resumed run would see epoch 0's order and
    augmentation (with ``num_workers`` > 0) instead of its own."""

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        return _FirstBatchIterator(self)


class TaskDataModule(L.LightningDataModule):
    """Train / val / test / predict loaders from ``task.dataset(split, transform)``: the
    backbone's test ``transform`` for every split but "train", which gets
    :meth:`train_transform` (the same transform when ``data.augment`` is null)."""

    def __init__(self, task: Task, transform: Any, config: dict[str, Any]) -> None:
        super().__init__()
        self.task, self.transform = task, transform
        self.augment = config["data"].get("augment")
        self.batch_size = int(config["data"]["batch_size"])
        self.eval_batch_size = int(config["data"]["eval_batch_size"] or self.batch_size)
        self.num_workers = int(config["data"]["num_workers"])
        self.seed = int(config["seed"])
        self._datasets: dict[str, Dataset] = {}
        self.with_val = True  # fit: whether the task has a validation split

    def train_transform(self) -> Any:
        """The train split's transform: a :class:`~vidlift.data.augment.TrainTransform` built
        from the backbone's transform and ``data.augment`` — its ``flip: auto`` resolved with
        the task's :meth:`~vidlift.tasks.base.Task.flip_safety` — or the backbone's transform
        when ``data.augment`` is null."""
        if self.augment is None:
            return self.transform
        safe, why = self.task.flip_safety() if self._asks_flip() else (True, "")
        try:
            transform = build_train_transform(self.transform, self.augment, safe, why)
        except AugmentError as e:
            raise ConfigError(f"config: {e}") from None
        log.info("training augmentation: %r", transform)
        return transform

    def _asks_flip(self) -> bool:
        # Reading class names costs a file read; only a flip that may happen needs them.
        return self.augment.get("flip", "auto") == "auto" or float(self.augment["flip"]) > 0

    def dataset(self, split: str) -> Dataset:
        if split not in self._datasets:
            transform = self.train_transform() if split == "train" else self.transform
            self._datasets[split] = self.task.dataset(split, transform)
        return self._datasets[split]

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        ds = self.dataset(split)
        rank, world = 0, 1
        if self.trainer is not None and self.trainer.world_size > 1:
            rank, world = self.trainer.global_rank, self.trainer.world_size
        sampler = EpochSampler(len(ds), self.seed, shuffle, rank, world)
        return EpochLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=self.num_workers,
                          collate_fn=self.task.collate, persistent_workers=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", False, self.eval_batch_size) if self.with_val else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", False, self.eval_batch_size)


__all__ = ["EpochLoader", "EpochSampler", "TaskDataModule"]
