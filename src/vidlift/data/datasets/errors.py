"""Errors of the annotation readers: each names the file and, where it can, the line."""

from __future__ import annotations

import os
from pathlib import Path


class AnnotationError(ValueError):
    """An annotation file is malformed or inconsistent.

    ``str(error)`` reads ``path:line: message`` (``path: message`` when no line applies), the
    form editors and terminals turn into a link.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


class MissingVideosError(FileNotFoundError):
    """More videos named by an annotation file are absent than ``max_missing_ratio`` allows."""

    def __init__(self, message: str, missing: list):
        super().__init__(message)
        self.missing = missing
