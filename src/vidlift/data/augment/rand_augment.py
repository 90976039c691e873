"""RandAugment (Cubuk et al., 2020) on uint8 clips, torchvision's op list and magnitude tables.

``num_ops`` times: an op drawn uniformly from the 14 of :meth:`RandAugment.augmentation_space`,
its magnitude read from that op's table at bin ``magnitude`` of ``num_magnitude_bins``, and
for the signed ops a sign drawn with probability 1/2 — torchvision's draws in torchvision's
order. One draw per clip: every frame gets the same ops, magnitudes and signs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from . import functional as AF

OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
       "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")


def apply_op(video: torch.Tensor, op_name: str, magnitude: float, interpolation: str = "nearest",
             fill: Sequence[float] | None = None) -> torch.Tensor:
    """One RandAugment op at a signed ``magnitude`` on uint8 (..., 3, H, W), as torchvision's
    ``_apply_op``: shears of ``atan(magnitude)`` about the top-left corner, translations of
    ``int(magnitude)`` pixels, rotation in degrees, colour factors ``1 + magnitude``,
    posterize to ``int(magnitude)`` bits, solarize above ``magnitude``."""
    if op_name == "ShearX":
        # torchvision shears by the angle atan(m) (pixels move by m per row), about (0, 0)
        return AF.affine(video, 0.0, [0, 0], 1.0, [math.degrees(math.atan(magnitude)), 0.0], center=[0, 0],
                         interpolation=interpolation, fill=fill)
    if op_name == "ShearY":
        return AF.affine(video, 0.0, [0, 0], 1.0, [0.0, math.degrees(math.atan(magnitude))], center=[0, 0],
                         interpolation=interpolation, fill=fill)
    if op_name == "TranslateX":
        return AF.affine(video, 0.0, [int(magnitude), 0], 1.0, [0.0, 0.0], interpolation=interpolation, fill=fill)
    if op_name == "TranslateY":
        return AF.affine(video, 0.0, [0, int(magnitude)], 1.0, [0.0, 0.0], interpolation=interpolation, fill=fill)
    if op_name == "Rotate":
        return AF.rotate(video, magnitude, interpolation=interpolation, fill=fill)
    if op_name == "Brightness":
        return AF.adjust_brightness(video, 1.0 + magnitude)
    if op_name == "Color":
        return AF.adjust_saturation(video, 1.0 + magnitude)
    if op_name == "Contrast":
        return AF.adjust_contrast(video, 1.0 + magnitude)
    if op_name == "Sharpness":
        return AF.adjust_sharpness(video, 1.0 + magnitude)
    if op_name == "Posterize":
        return AF.posterize(video, int(magnitude))
    if op_name == "Solarize":
        return AF.solarize(video, magnitude)
    if op_name == "AutoContrast":
        return AF.autocontrast(video)
    if op_name == "Equalize":
        return AF.equalize(video)
    if op_name == "Identity":
        return video
    raise ValueError(f"unknown RandAugment op {op_name!r}; ops: {', '.join(OPS)}")


class RandAugment:
    """torchvision's ``RandAugment(num_ops, magnitude, num_magnitude_bins, interpolation,
    fill)`` for clips.

    Args:
        num_ops: ops applied in sequence (2 in the paper's ImageNet setting).
        magnitude: the bin of every op's magnitude table, in [0, num_magnitude_bins).
        num_magnitude_bins: bins of the tables (31: magnitude 9 is the paper's "M9" of 30).
        interpolation: "nearest" (torchvision's default) or "bilinear" for the geometric ops.
        fill: value per channel for pixels that geometric ops bring in from outside (0 if None).

    ``augment(video, generator)``: uint8 (..., 3, H, W) -> uint8 of the same shape.
    """

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 interpolation: str = "nearest", fill: Sequence[float] | None = None) -> None:
        if num_ops < 0:
            raise ValueError(f"num_ops must be >= 0, got {num_ops}")
        if num_magnitude_bins < 2:
            raise ValueError(f"num_magnitude_bins must be >= 2, got {num_magnitude_bins}")
        if not 0 <= magnitude < num_magnitude_bins:
            raise ValueError(f"magnitude is a bin in [0, num_magnitude_bins={num_magnitude_bins}), got {magnitude}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        if fill is not None and len(fill) != 3:
            raise ValueError(f"fill needs one value per channel (3), got {list(fill)}")
        self.num_ops, self.magnitude, self.num_magnitude_bins = int(num_ops), int(magnitude), int(num_magnitude_bins)
        self.interpolation = interpolation
        self.fill = None if fill is None else [float(f) for f in fill]

    @staticmethod
    def augmentation_space(num_bins: int, image_size: tuple[int, int]) -> dict[str, tuple[torch.Tensor, bool]]:
        """op -> (magnitudes over the bins, signed); ``image_size`` (h, w) scales the
        translations (up to 150/331 of the side, the fraction AutoAugment used at 331 px).
        The tables are torchvision's, float32 as it makes them."""
        h, w = image_size
        return {
            "Identity": (torch.tensor(0.0), False),
            "ShearX": (torch.linspace(0.0, 0.3, num_bins), True),
            "ShearY": (torch.linspace(0.0, 0.3, num_bins), True),
            "TranslateX": (torch.linspace(0.0, 150.0 / 331.0 * w, num_bins), True),
            "TranslateY": (torch.linspace(0.0, 150.0 / 331.0 * h, num_bins), True),
            "Rotate": (torch.linspace(0.0, 30.0, num_bins), True),
            "Brightness": (torch.linspace(0.0, 0.9, num_bins), True),
            "Color": (torch.linspace(0.0, 0.9, num_bins), True),
            "Contrast": (torch.linspace(0.0, 0.9, num_bins), True),
            "Sharpness": (torch.linspace(0.0, 0.9, num_bins), True),
            "Posterize": (8 - (torch.arange(num_bins) / ((num_bins - 1) / 4)).round().int(), False),
            "Solarize": (torch.linspace(255.0, 0.0, num_bins), False),
            "AutoContrast": (torch.tensor(0.0), False),
            "Equalize": (torch.tensor(0.0), False),
        }

    def get_params(self, image_size: tuple[int, int], generator: torch.Generator | None = None
                   ) -> list[tuple[str, float]]:
        """The clip's ``num_ops`` (op, signed magnitude) pairs, drawn as torchvision draws them."""
        space = self.augmentation_space(self.num_magnitude_bins, image_size)
        names = list(space)
        ops = []
        for _ in range(self.num_ops):
            name = names[int(torch.randint(len(space), (1,), generator=generator).item())]
            magnitudes, signed = space[name]
            magnitude = float(magnitudes[self.magnitude].item()) if magnitudes.ndim > 0 else 0.0
            if signed and torch.randint(2, (1,), generator=generator):
                magnitude *= -1.0
            ops.append((name, magnitude))
        return ops

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for name, magnitude in self.get_params((video.shape[-2], video.shape[-1]), generator):
            video = apply_op(video, name, magnitude, self.interpolation, self.fill)
        return video

    def __repr__(self) -> str:
        return (f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, "
                f"num_magnitude_bins={self.num_magnitude_bins}, interpolation={self.interpolation!r}, "
                f"fill={self.fill})")


__all__ = ["OPS", "RandAugment", "apply_op"]
