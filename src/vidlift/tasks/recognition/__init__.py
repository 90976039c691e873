"""Action recognition: zero-shot helpers, the linear probe, and the trainable task
(:class:`RecognitionTask`, heads, metrics).

Exports load lazily, so importing a light submodule (``.prompts``, used by the CLI for its
defaults) does not import torch through this package.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RecognitionTask": ".task",
    "HEADS": ".heads",
    "build_head": ".heads",
    "top_k_accuracy": ".metrics",
    "mean_class_accuracy": ".metrics",
    "per_class_accuracy": ".metrics",
    "classification_metrics": ".metrics",
    "sample_few_shot": ".few_shot",
    "RecognitionClips": ".clips",
    "ClipSampling": ".clips",
    "eval_sampler": ".clips",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
