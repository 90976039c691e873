"""Trainable and total parameters of a :class:`~vidlift.transfer.TransferModel`, with what
each strategy declared (the PEFT-style ``print_trainable_parameters``, per insertion)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..table import render_table

if TYPE_CHECKING:
    from .base import Insertion
    from .declarations import TransferDeclarations


@dataclass
class ParameterReport:
    total: int
    trainable: int
    insertions: list[Insertion]
    strategies: list[str]

    @classmethod
    def of(cls, model: TransferDeclarations) -> ParameterReport:
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return cls(total, trainable, list(model.insertions), [s.name for s in model.strategies])

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def summary(self) -> str:
        return (f"trainable params: {self.trainable:,} || all params: {self.total:,} || "
                f"trainable%: {self.trainable_percent:.4f}")

    def table(self) -> str:
        rows = [(i.strategy, i.where, i.what, f"{i.parameters:,}") for i in self.insertions]
        return render_table(("strategy", "where", "what", "params"), rows, align="<<<>") + "\n\n" + self.summary()

    def to_dict(self) -> dict:
        return {
            "strategies": self.strategies, "total": self.total, "trainable": self.trainable,
            "trainable_percent": round(self.trainable_percent, 4),
            "insertions": [vars(i) for i in self.insertions],
        }

    def __str__(self) -> str:
        return self.table()
