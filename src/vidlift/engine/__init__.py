"""The training engine: Lightning around (backbone × transfer × task), YAML configs with
command-line overrides, and a metrics.json with accuracy and cost for every run."""

from __future__ import annotations

from typing import Any

# Resolved on first use: ``vidlift.engine.optim`` (used by the tiny-ILFM pretraining) and
# ``vidlift.engine.config`` must not pull Lightning in.
_LAZY = {"ConfigError": "config", "load_config": "config", "fit": "run", "evaluate": "run", "predict": "run"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConfigError", "load_config", "fit", "evaluate", "predict"]
