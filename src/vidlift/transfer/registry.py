"""Every transfer strategy, one line each: ``name -> class``. ``vidlift transfers`` lists them."""

from __future__ import annotations

from .base import Strategy

STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    if cls.name in STRATEGIES and STRATEGIES[cls.name] is not cls:
        raise ValueError(f"two strategies are named {cls.name!r}")
    STRATEGIES[cls.name] = cls
    return cls


def get_strategy(name: str, **hyperparameters) -> Strategy:
    """A strategy by registry name with hyper-parameters overriding its defaults."""
    if name not in STRATEGIES:
        raise KeyError(f"unknown transfer strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name](**hyperparameters)
