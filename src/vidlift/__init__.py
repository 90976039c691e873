"""vidlift: transfer image-language foundation models (CLIP, SigLIP and kin) to video tasks.

    >>> import vidlift
    >>> model, preprocess, tokenizer = vidlift.load_backbone("hf:/path/to/clip-vit-base-patch16")
"""

from typing import Any

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that `import vidlift` (and `vidlift --help`) does not pay for torch + transformers.
    if name in ("load_backbone", "save_backbone"):
        from . import backbones

        return getattr(backbones, name)
    raise AttributeError(f"module 'vidlift' has no attribute {name!r}")


__all__ = ["__version__", "load_backbone", "save_backbone"]
