"""Training augmentation with torchvision's and timm's names and semantics, in plain torch.

- :mod:`.functional`: uint8 image ops (crop, resize, flip, affine, colour, equalize …);
- :mod:`.crops`: ``RandomResizedCrop``, ``RandomShortSideScale`` (scale jitter),
  ``RandomCrop``, ``RandomHorizontalFlip``;
- :mod:`.color`: ``ColorJitter`` (with ``RandomApply``'s probability), ``RandomGrayscale``;
- :mod:`.rand_augment`: ``RandAugment``;
- :mod:`.train`: ``TrainTransform``, the train split's transform, and the ``data.augment``
  config schema;
- :mod:`.mix`: ``MixupCutmix``, timm's batch-level mixup / cutmix with label smoothing.

Clip ops draw once per clip from a ``torch.Generator`` (never the global RNG in the engine),
so every frame of a clip gets the same crop, flip and ops.
"""

from .color import ColorJitter, RandomGrayscale
from .crops import RandomCrop, RandomHorizontalFlip, RandomResizedCrop, RandomShortSideScale
from .mix import MixParams, MixupCutmix, cutmix_box, smooth_one_hot
from .rand_augment import OPS, RandAugment, apply_op
from .train import (
    CROPS,
    AugmentConfig,
    AugmentError,
    ColorJitterConfig,
    RandAugmentConfig,
    TrainTransform,
    build_train_transform,
    check_augment,
    flip_probability,
    short_side_pixels,
)

__all__ = [
    "CROPS", "OPS", "AugmentConfig", "AugmentError", "ColorJitter", "ColorJitterConfig", "MixParams", "MixupCutmix",
    "RandAugment", "RandAugmentConfig", "RandomCrop", "RandomGrayscale", "RandomHorizontalFlip", "RandomResizedCrop",
    "RandomShortSideScale", "TrainTransform", "apply_op", "build_train_transform", "check_augment", "cutmix_box",
    "flip_probability", "short_side_pixels", "smooth_one_hot",
]
