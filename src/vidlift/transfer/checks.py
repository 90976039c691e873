"""Hyper-parameter checks shared by every strategy's ``__post_init__`` (both roots use them).

Each raises a ``ValueError`` that names the strategy and the field, so a bad value in a config
file or on the command line (``vidlift transfers --set``) fails when the strategy is built,
before any backbone is loaded, instead of deep inside a forward pass. Booleans are refused
where numbers are expected (``True`` is an ``int`` to Python, never a block count).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_int(who: str, field: str, value: Any, minimum: int = 1, optional: bool = False) -> None:
    """``value`` is an integer >= ``minimum`` (or None when ``optional``)."""
    if optional and value is None:
        return
    if not _is_int(value) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{who}: {field} must be {what}{' or None' if optional else ''}, got {value!r}")


def check_number(who: str, field: str, value: Any, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = True, optional: bool = False) -> None:
    """``value`` is a finite number in the interval given by ``low`` / ``high`` (open or closed ends)."""
    if optional and value is None:
        return
    ok = _is_number(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is not None and high is not None:
            rng = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            rng = f"{'>' if low_open else '>='} {low:g}"
        elif high is not None:
            rng = f"{'<' if high_open else '<='} {high:g}"
        else:
            rng = "finite"
        raise ValueError(f"{who}: {field} must be a number {rng}{' or None' if optional else ''}, got {value!r}")


def check_probability(who: str, field: str, value: Any) -> None:
    """A dropout rate: a number in [0, 1)."""
    check_number(who, field, value, 0.0, 1.0)


def check_bool(who: str, field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{who}: {field} must be true or false, got {value!r}")


def check_choice(who: str, field: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{who}: {field} must be one of {', '.join(map(repr, choices))}, got {value!r}")


__all__ = ["check_int", "check_number", "check_probability", "check_bool", "check_choice"]
