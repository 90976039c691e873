"""Random crops and flips of a clip, one draw per clip, with torchvision's names and draws.

Each transform takes uint8 frames (T, 3, H, W) and a ``torch.Generator``; its parameters
are drawn once and applied to every frame (a crop that moved from frame to frame would be
motion that is not in the video). The draws are torchvision's, in its order and dtypes, so a
generator seeded like torch's global RNG gives torchvision's boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..transforms import Interpolation, shorter_side_size
from . import functional as AF


def _pair(size: int | Sequence[int], what: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if h < 1 or w < 1:
        raise ValueError(f"{what} must be positive, got {size!r}")
    return h, w


def _range(values: Sequence[float], what: str, low: float = 0.0) -> tuple[float, float]:
    if len(values) != 2 or not low < values[0] <= values[1]:
        raise ValueError(f"{what} must be two numbers (min, max) with {low} < min <= max, got {list(values)}")
    return float(values[0]), float(values[1])


class RandomResizedCrop:
    """A random area and aspect ratio, resized to ``size`` (Szegedy et al., Inception, 2015).

    :meth:`get_params` is torchvision's: up to 10 tries of an area fraction uniform in
    ``scale`` and a log-uniform aspect ratio (w / h) in ``ratio``, sides rounded; the first box
    that fits is placed uniformly; if none fits, the central crop of the whole image clipped to
    the ratio range. The crop is then resized (``interpolation``, ``antialias``) and rounded to
    uint8.

    ``crop(video, generator)``: uint8 (..., 3, H, W) -> uint8 (..., 3, size, size).
    """

    def __init__(self, size: int | Sequence[int], scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0), interpolation: Interpolation = "bilinear",
                 antialias: bool = True) -> None:
        self.size = _pair(size, "size")
        self.scale = _range(scale, "scale")
        if self.scale[1] > 1:
            raise ValueError(f"scale is a fraction of the frame's area, at most 1, got {list(scale)}")
        self.ratio = _range(ratio, "ratio")
        self.interpolation, self.antialias = interpolation, antialias

    @staticmethod
    def get_params(height: int, width: int, scale: Sequence[float], ratio: Sequence[float],
                   generator: torch.Generator | None = None) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the crop in a ``height`` x ``width`` frame."""
        area = height * width
        # float32 draws and log, as torchvision makes them, so the same seed gives the same box
        log_ratio = torch.log(torch.tensor(ratio))
        for _ in range(10):
            target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
            aspect = torch.exp(torch.empty(1).uniform_(float(log_ratio[0]), float(log_ratio[1]),
                                                        generator=generator)).item()
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, size=(1,), generator=generator).item())
                left = int(torch.randint(0, width - w + 1, size=(1,), generator=generator).item())
                return top, left, h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            h, w = height, int(round(height * max(ratio)))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        top, left, h, w = self.get_params(video.shape[-2], video.shape[-1], self.scale, self.ratio, generator)
        return AF.resized_crop(video, top, left, h, w, self.size, self.interpolation, self.antialias)

    def __repr__(self) -> str:
        return (f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio}, "
                f"interpolation={self.interpolation!r}, antialias={self.antialias})")


class RandomCrop:
    """A ``size`` crop at a uniform position (torchvision's ``RandomCrop`` without padding;
    like it, no draw when the crop is the whole frame).

    ``crop(video, generator)``: uint8 (..., H, W) -> (..., size, size)."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "size")

    @staticmethod
    def get_params(height: int, width: int, size: Sequence[int],
                   generator: torch.Generator | None = None) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the crop."""
        th, tw = int(size[0]), int(size[1])
        if th > height or tw > width:
            raise ValueError(f"crop {th}x{tw} is larger than the frames ({height}x{width})")
        if (th, tw) == (height, width):
            return 0, 0, height, width
        top = int(torch.randint(0, height - th + 1, size=(1,), generator=generator).item())
        left = int(torch.randint(0, width - tw + 1, size=(1,), generator=generator).item())
        return top, left, th, tw

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return AF.crop(video, *self.get_params(video.shape[-2], video.shape[-1], self.size, generator))

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size})"


class RandomShortSideScale:
    """Scale jitter: the shorter side resized to an integer uniform in ``[min_size, max_size]``
    (both ends included), the aspect ratio kept (the longer side truncated, as ``Resize(int)``),
    or both sides to it when ``resize_mode`` is "squash" (a backbone that ignores the aspect
    ratio, such as SigLIP). PyTorchVideo's ``RandomShortSideScale``; with a
    :class:`RandomCrop` after it, the training crop of SlowFast, ViViT and mmaction2
    (Feichtenhofer et al., 2019: 256..320 for a 224 crop).

    ``scale(video, generator)``: uint8 (..., 3, H, W) -> uint8 (..., 3, h, w)."""

    def __init__(self, min_size: int, max_size: int, interpolation: Interpolation = "bilinear",
                 antialias: bool = True, resize_mode: str = "shortest") -> None:
        if not 0 < min_size <= max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {min_size} and {max_size}")
        if resize_mode not in ("shortest", "squash"):
            raise ValueError(f"resize_mode must be 'shortest' or 'squash', got {resize_mode!r}")
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.interpolation, self.antialias, self.resize_mode = interpolation, antialias, resize_mode

    def get_params(self, generator: torch.Generator | None = None) -> int:
        """The shorter side's new length."""
        return int(torch.randint(self.min_size, self.max_size + 1, (1,), generator=generator).item())

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        side = self.get_params(generator)
        h, w = video.shape[-2:]
        size = shorter_side_size(h, w, side) if self.resize_mode == "shortest" else (side, side)
        return AF.resize(video, size, self.interpolation, self.antialias)

    def __repr__(self) -> str:
        return f"RandomShortSideScale(min_size={self.min_size}, max_size={self.max_size}, " \
               f"interpolation={self.interpolation!r}, resize_mode={self.resize_mode!r})"


class RandomHorizontalFlip:
    """Mirror the whole clip with probability ``p`` (one ``torch.rand(1)`` draw per call, as
    torchvision, whatever ``p``)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if torch.rand(1, generator=generator) < self.p:
            return AF.hflip(video)
        return video

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


__all__ = ["RandomCrop", "RandomHorizontalFlip", "RandomResizedCrop", "RandomShortSideScale"]
