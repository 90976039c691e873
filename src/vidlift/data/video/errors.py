"""Errors raised by the video I/O layer."""

from __future__ import annotations

import os


class VideoDecodeError(RuntimeError):
    """A video file cannot be opened or decoded.

    Raised for any input the decoders cannot turn into frames: a missing or empty file, a
    truncated container, a file with no video stream (audio only, plain text), a corrupt
    stream. One type to catch lets a data loader skip or report bad samples.

    Attributes:
        path: the file that failed.
        reason: what went wrong, in words.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot decode video '{self.path}': {reason}")

    # DataLoader workers pickle exceptions to send them to the main process; the default
    # pickling would call __init__ with the formatted message only.
    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class BackendUnavailableError(ImportError):
    """A decoding backend was asked for but cannot be imported.

    The message names the backend and the pip package that provides it.
    """

    def __init__(self, backend: str, package: str, detail: str | None = None):
        self.backend = backend
        self.package = package
        self.detail = detail
        # The extra, not the bare package: it carries the version range that loads beside torch.
        msg = f"video backend '{backend}' is not available: install it with `pip install 'vidlift[{backend}]'`"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.backend, self.package, self.detail))
