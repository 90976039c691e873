"""The training transform: decoded uint8 frames -> augmented, normalised model input.

:class:`TrainTransform` is the train-split counterpart of the backbone's
:class:`~vidlift.data.transforms.VideoTransform` (whose size, statistics, resize mode and
interpolation it takes): a crop (:data:`CROPS`), a horizontal flip, RandAugment on uint8,
then [0, 1] and the backbone's normalisation. Every random choice is drawn once per clip
from the generator :class:`~vidlift.data.clips.VideoClips` seeds with (seed, epoch, index),
so all frames get the same treatment and a resumed run sees what an uninterrupted one would.

:class:`AugmentConfig` is the schema of the run config's ``data.augment`` section (checked by
:func:`check_augment`); :func:`build_train_transform` turns it into a transform for a backbone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..transforms import VideoTransform, center_crop, normalize
from .color import ColorJitter, RandomGrayscale
from .crops import RandomCrop, RandomHorizontalFlip, RandomResizedCrop, RandomShortSideScale
from .rand_augment import RandAugment

# random_resized: RandomResizedCrop; scale_jitter: RandomShortSideScale + RandomCrop;
# random: the backbone's resize + RandomCrop; center: the backbone's resize + centre crop.
CROPS = ("random_resized", "scale_jitter", "random", "center")
# SlowFast's 256..320 px short side for a 224 crop, as multiples of the input size.
DEFAULT_SHORT_SIDE = [256 / 224, 320 / 224]
# Largest short side given as a multiple of the input size: more is a slip for pixels.
MAX_SHORT_SIDE_MULTIPLE = 4.0


@dataclass
class RandAugmentConfig:
    """``data.augment.rand_augment``: torchvision's RandAugment arguments."""

    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31


@dataclass
class ColorJitterConfig:
    """``data.augment.color_jitter``: torchvision's ColorJitter arguments (a number v: factors in
    [1 - v, 1 + v], hue shifts in [-v, v]; or a pair [min, max]) and ``p``, the probability of
    jittering a clip at all (``RandomApply``)."""

    brightness: Any = 0.0
    contrast: Any = 0.0
    saturation: Any = 0.0
    hue: Any = 0.0
    p: float = 1.0


@dataclass
class AugmentConfig:
    """``data.augment`` (null: no augmentation, the train split gets the test transform).

    Attributes:
        crop: one of :data:`CROPS`.
        scale: RandomResizedCrop's range of the crop's area, as fractions of the frame's.
        ratio: RandomResizedCrop's range of the crop's aspect ratio (w / h), log-uniform.
        short_side: scale jitter's range of the shorter side, both ends included: whole
            numbers are pixels (``[256, 320]``), numbers with a decimal point are multiples of
            the backbone's input size (``[1.142857, 1.428571]`` is 256..320 at 224, 73..91 at 64).
        flip: probability of a horizontal flip, or "auto": 0.5 when the dataset is flip-safe,
            0 when its labels name a horizontal direction (see ``DatasetConfig.flip_safety``).
        color_jitter: ColorJitter's arguments and its RandomApply probability, or null for none.
        grayscale: RandomGrayscale's probability.
        rand_augment: RandAugment's arguments, or null for none.
    """

    crop: str = "random_resized"
    scale: list[float] = field(default_factory=lambda: [0.08, 1.0])
    ratio: list[float] = field(default_factory=lambda: [3.0 / 4.0, 4.0 / 3.0])
    short_side: list[Any] = field(default_factory=lambda: list(DEFAULT_SHORT_SIDE))
    flip: Any = "auto"
    color_jitter: ColorJitterConfig | None = None
    grayscale: float = 0.0
    rand_augment: RandAugmentConfig | None = None


class AugmentError(ValueError):
    """A bad ``data.augment`` value; ``key`` is the key under ``data.augment`` that is wrong."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"data.augment.{key}: {message}")
        self.key = key


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_range(augment: Mapping[str, Any], key: str, upper: float | None, example: str) -> None:
    v = augment.get(key)
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_number(x) for x in v)
            and 0 < v[0] <= v[1] and (upper is None or v[1] <= upper)):
        bound = f" <= {upper}" if upper is not None else ""
        raise AugmentError(key, f"must be two numbers [min, max] with 0 < min <= max{bound} (e.g. {example}), "
                                f"got {v!r}")


def check_augment(augment: Mapping[str, Any]) -> None:
    """Raise :class:`AugmentError` naming the first bad key of a ``data.augment`` mapping (all
    keys present, as the config schema fills them). Checks that need the backbone's input size
    (a pixel ``short_side`` below it) are :func:`build_train_transform`'s."""
    if augment.get("crop") not in CROPS:
        raise AugmentError("crop", f"must be one of {', '.join(CROPS)}, got {augment.get('crop')!r}")
    _check_range(augment, "scale", 1.0, "[0.08, 1.0]")
    _check_range(augment, "ratio", None, "[0.75, 1.3333]")
    side = augment.get("short_side")
    _check_range(augment, "short_side", None, "[256, 320] pixels or [1.14, 1.43] times the input size")
    if len({type(x) for x in side}) != 1:
        raise AugmentError("short_side", f"give both ends in pixels (whole numbers, [256, 320]) or both as "
                                         f"multiples of the input size ([1.14, 1.43]), got {side!r}")
    if isinstance(side[0], float) and side[1] > MAX_SHORT_SIDE_MULTIPLE:
        # [256.0, 320.0] meant pixels; read as multiples it would resize frames to ~70,000 px
        raise AugmentError("short_side", f"numbers with a decimal point are multiples of the input size, at most "
                                         f"{MAX_SHORT_SIDE_MULTIPLE:g}; got {side!r} — for pixels write whole "
                                         f"numbers ([{int(side[0])}, {int(side[1])}])")
    flip = augment.get("flip")
    if flip != "auto" and not (_is_number(flip) and 0 <= flip <= 1):
        raise AugmentError("flip", f"must be 'auto' or a probability in [0, 1], got {flip!r}")
    for key, make in (("color_jitter", ColorJitter), ("rand_augment", RandAugment)):
        args = augment.get(key)
        if args is None:
            continue
        if not isinstance(args, Mapping):
            raise AugmentError(key, f"must be a mapping of {make.__name__}'s arguments or null, got {args!r}")
        try:
            make(**args)
        except (TypeError, ValueError) as e:
            raise AugmentError(key, str(e)) from None
    grayscale = augment.get("grayscale", 0.0)
    if not (_is_number(grayscale) and 0 <= grayscale <= 1):
        raise AugmentError("grayscale", f"must be a probability in [0, 1], got {grayscale!r}")


def short_side_pixels(short_side: Sequence[int | float], size: int) -> tuple[int, int]:
    """``short_side`` in pixels: whole numbers as they are, floats times ``size`` (rounded)."""
    if all(isinstance(x, int) for x in short_side):
        return int(short_side[0]), int(short_side[1])
    return int(round(short_side[0] * size)), int(round(short_side[1] * size))


def flip_probability(flip: float | str, flip_safe: bool, why: str = "") -> float:
    """``data.augment.flip`` for a dataset: "auto" is 0.5 when ``flip_safe`` and 0 when not; an
    explicit probability above 0 on data that is not flip-safe is an :class:`AugmentError`
    that says why (``why``: the dataset's reason)."""
    if flip == "auto":
        return 0.5 if flip_safe else 0.0
    if float(flip) > 0 and not flip_safe:
        raise AugmentError("flip", f"{flip} mirrors training clips, but this dataset is not flip-safe ({why}): a "
                                   "mirrored clip would carry a wrong label. Use flip: auto (off for this data) or 0; "
                                   "if the annotations are in fact mirror-safe, declare it with "
                                   "task.dataset.flip_safe: true")
    return float(flip)


class TrainTransform:
    """Decoded uint8 frames (T, H, W, 3) -> augmented float32 model input (T, 3, size, size).

    Steps, each drawn once per clip from ``generator``: the crop (``crop``: a
    :class:`RandomResizedCrop` of the decoded frames to ``size``; or a
    :class:`RandomShortSideScale` to ``short_side`` then a :class:`RandomCrop`; or the
    backbone's resize then a random / centre crop), :class:`RandomHorizontalFlip` with ``flip``,
    :class:`ColorJitter` and :class:`RandomGrayscale` (``grayscale``) if given,
    :class:`RandAugment` if given — all on uint8, as torchvision's pipeline runs them — then
    [0, 1] and the backbone's mean / std. Resampling uses the backbone's interpolation and
    antialiasing.

    Args:
        base: the backbone's test transform (size, mean, std, resize mode, interpolation).
        crop: one of :data:`CROPS`.
        scale, ratio: RandomResizedCrop's ranges.
        short_side: scale jitter's (min, max) shorter side in pixels, both >= ``base.size``.
        flip: probability of mirroring the clip.
        color_jitter: a :class:`ColorJitter`, or None.
        grayscale: probability of a greyscale clip.
        rand_augment: a :class:`RandAugment`, or None.
    """

    def __init__(self, base: VideoTransform, crop: str = "random_resized",
                 scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
                 short_side: Sequence[int] | None = None, flip: float = 0.5,
                 rand_augment: RandAugment | None = None, color_jitter: ColorJitter | None = None,
                 grayscale: float = 0.0) -> None:
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
        self.base, self.crop, self.size = base, crop, base.size
        self.random_resized_crop = RandomResizedCrop(base.size, scale, ratio, base.interpolation, base.antialias)
        self.short_side_scale = None
        if crop == "scale_jitter":
            lo, hi = (int(x) for x in (short_side or short_side_pixels(DEFAULT_SHORT_SIDE, base.size)))
            if lo < base.size:
                raise AugmentError("short_side", f"[{lo}, {hi}] px: the shorter side must be at least the "
                                                 f"backbone's input size {base.size} to crop {base.size}x{base.size}")
            self.short_side_scale = RandomShortSideScale(lo, hi, base.interpolation, base.antialias, base.resize_mode)
        self.random_crop = RandomCrop(base.size)
        self.flip = RandomHorizontalFlip(flip)
        self.color_jitter, self.grayscale = color_jitter, RandomGrayscale(grayscale) if grayscale > 0 else None
        self.rand_augment = rand_augment

    def _crop(self, frames: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.crop == "random_resized":
            return self.random_resized_crop(frames.permute(0, 3, 1, 2), generator)
        if self.crop == "scale_jitter":
            return self.random_crop(self.short_side_scale(frames.permute(0, 3, 1, 2), generator), generator)
        video = self.base.resized(frames).to(torch.uint8)  # already clamped and rounded
        if self.crop == "random":
            return self.random_crop(video, generator)
        return center_crop(video, self.size)

    def __call__(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (T, H, W, 3) -> float32 (T, 3, size, size)."""
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
        video = self.flip(self._crop(frames, generator), generator)
        if self.color_jitter is not None:
            video = self.color_jitter(video, generator)
        if self.grayscale is not None:
            video = self.grayscale(video, generator)
        if self.rand_augment is not None:
            video = self.rand_augment(video, generator)
        return normalize(video.float().div_(255.0), self.base.mean, self.base.std).contiguous()

    def __repr__(self) -> str:
        crop = {"random_resized": repr(self.random_resized_crop),
                "scale_jitter": f"{self.short_side_scale!r} + {self.random_crop!r}",
                "random": f"resize to {self.base.resize_size} + {self.random_crop!r}",
                "center": f"resize to {self.base.resize_size} + CenterCrop({self.size})"}[self.crop]
        extras = "".join(f", {op!r}" for op in (self.color_jitter, self.grayscale, self.rand_augment) if op is not None)
        return (f"TrainTransform({crop}, {self.flip!r}{extras}, "
                f"mean={self.base.mean}, std={self.base.std})")


def build_train_transform(base: VideoTransform, augment: Mapping[str, Any], flip_safe: bool = True,
                          why: str = "") -> TrainTransform:
    """The :class:`TrainTransform` of a ``data.augment`` mapping for a backbone's ``base``
    transform and a dataset's flip safety (``flip_safe``, ``why``: see :func:`flip_probability`).
    Missing keys take :class:`AugmentConfig`'s defaults; errors are :class:`AugmentError`."""
    defaults = AugmentConfig()
    merged = {k: augment.get(k, getattr(defaults, k)) for k in AugmentConfig.__dataclass_fields__}
    unknown = sorted(set(augment) - set(merged))
    if unknown:
        raise AugmentError(unknown[0], f"unknown key; data.augment takes {', '.join(merged)}")
    for key, schema in (("rand_augment", RandAugmentConfig), ("color_jitter", ColorJitterConfig)):
        if isinstance(merged[key], Mapping):
            merged[key] = {**schema().__dict__, **merged[key]}
    check_augment(merged)
    ra, cj = merged["rand_augment"], merged["color_jitter"]
    return TrainTransform(
        base, merged["crop"], merged["scale"], merged["ratio"],
        short_side_pixels(merged["short_side"], base.size), flip_probability(merged["flip"], flip_safe, why),
        RandAugment(**ra) if ra is not None else None, ColorJitter(**cj) if cj is not None else None,
        float(merged["grayscale"]))


__all__ = ["CROPS", "AugmentConfig", "AugmentError", "ColorJitterConfig", "RandAugmentConfig", "TrainTransform",
           "build_train_transform", "check_augment", "flip_probability", "short_side_pixels"]
