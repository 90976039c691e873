"""Colour jitter and random greyscale of a clip (torchvision's ``ColorJitter``,
``RandomApply`` and ``RandomGrayscale``), one draw per clip: every frame gets the same factors
in the same order (a colour that changed from frame to frame would be a flicker the video does
not have). X-CLIP trains with ``RandomApply([ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8)`` and
``RandomGrayscale(p=0.2)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import functional as AF

Jitter = float | Sequence[float]


def _factor_range(value: Jitter, name: str, center: float, bound: tuple[float, float],
                  clip_at_zero: bool = True) -> tuple[float, float] | None:
    """torchvision's ``ColorJitter._check_input``: a number v means [center - v, center + v]
    (the low end clipped at 0 for the multiplicative factors), a pair is the range; a range that
    is only ``center`` means "off" (None)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} as a single number must be non-negative, got {value}")
        lo, hi = center - float(value), center + float(value)
        if clip_at_zero:
            lo = max(lo, 0.0)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ValueError(f"{name} must be a number or a pair [min, max], got {value!r}")
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"{name} must lie within {list(bound)} with min <= max, got [{lo}, {hi}]")
    return None if lo == hi == center else (lo, hi)


class ColorJitter:
    """Random brightness, contrast, saturation and hue, applied in a random order.

    Args:
        brightness, contrast, saturation: factor ranges around 1 (a number v: [max(0, 1 - v), 1 + v]).
        hue: a shift range around 0 in [-0.5, 0.5] (a number v: [-v, v]).
        p: probability of jittering the clip at all (torchvision's ``RandomApply([...], p)``;
            1 is a plain ``ColorJitter``).

    ``jitter(video, generator)``: uint8 (..., 3, H, W) -> uint8 of the same shape.
    """

    def __init__(self, brightness: Jitter = 0.0, contrast: Jitter = 0.0, saturation: Jitter = 0.0, hue: Jitter = 0.0,
                 p: float = 1.0) -> None:
        self.brightness = _factor_range(brightness, "brightness", 1.0, (0.0, float("inf")))
        self.contrast = _factor_range(contrast, "contrast", 1.0, (0.0, float("inf")))
        self.saturation = _factor_range(saturation, "saturation", 1.0, (0.0, float("inf")))
        self.hue = _factor_range(hue, "hue", 0.0, (-0.5, 0.5), clip_at_zero=False)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def get_params(self, generator: torch.Generator | None = None
                   ) -> tuple[list[int], float | None, float | None, float | None, float | None]:
        """(order of the four adjustments, brightness, contrast, saturation, hue factors; None
        for one that is off), drawn as torchvision draws them."""
        order = torch.randperm(4, generator=generator).tolist()

        def draw(r: tuple[float, float] | None) -> float | None:
            return None if r is None else float(torch.empty(1).uniform_(r[0], r[1], generator=generator))

        b, c, s = draw(self.brightness), draw(self.contrast), draw(self.saturation)
        return order, b, c, s, draw(self.hue)

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # RandomApply: skip when p < u (so p = 1 always applies), drawing u first
        if self.p < 1.0 and self.p < torch.rand(1, generator=generator):
            return video
        order, b, c, s, h = self.get_params(generator)
        for k in order:
            if k == 0 and b is not None:
                video = AF.adjust_brightness(video, b)
            elif k == 1 and c is not None:
                video = AF.adjust_contrast(video, c)
            elif k == 2 and s is not None:
                video = AF.adjust_saturation(video, s)
            elif k == 3 and h is not None:
                video = AF.adjust_hue(video, h)
        return video

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}, "
                f"hue={self.hue}, p={self.p})")


class RandomGrayscale:
    """The clip in greyscale (luma in all three channels) with probability ``p``."""

    def __init__(self, p: float = 0.1) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if torch.rand(1, generator=generator) < self.p:
            return AF.rgb_to_grayscale(video).expand(video.shape).contiguous()
        return video

    def __repr__(self) -> str:
        return f"RandomGrayscale(p={self.p})"


__all__ = ["ColorJitter", "RandomGrayscale"]
