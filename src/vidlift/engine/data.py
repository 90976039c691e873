"""Data loading for the engine: the task's split datasets behind DataLoaders whose order is a
function of (seed, epoch), so runs reproduce and resume exactly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..tasks.base import Task


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


class TaskDataModule(L.LightningDataModule):
    """Train / val / test / predict loaders from ``task.dataset(split, transform)``."""

    def __init__(self, task: Task, transform: Any, config: dict[str, Any]) -> None:
        super().__init__()
        self.task, self.transform = task, transform
        self.batch_size = int(config["data"]["batch_size"])
        self.eval_batch_size = int(config["data"]["eval_batch_size"] or self.batch_size)
        self.num_workers = int(config["data"]["num_workers"])
        self.seed = int(config["seed"])
        self._datasets: dict[str, Dataset] = {}
        self.with_val = True  # fit: whether the task has a validation split

    def dataset(self, split: str) -> Dataset:
        if split not in self._datasets:
            self._datasets[split] = self.task.dataset(split, self.transform)
        return self._datasets[split]

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        ds = self.dataset(split)
        rank, world = 0, 1
        if self.trainer is not None and self.trainer.world_size > 1:
            rank, world = self.trainer.global_rank, self.trainer.world_size
        sampler = EpochSampler(len(ds), self.seed, shuffle, rank, world)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=self.num_workers,
                          collate_fn=self.task.collate, persistent_workers=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", False, self.eval_batch_size) if self.with_val else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", False, self.eval_batch_size)


__all__ = ["EpochSampler", "TaskDataModule"]
