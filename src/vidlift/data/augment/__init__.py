"""Training augmentation with torchvision's and timm's names and semantics, in plain torch.

Clip ops draw once per clip from a ``torch.Generator``, so every frame gets the same crop,
flip and RandAugment ops; :class:`MixupCutmix` mixes a batch of clips (timm's ``Mixup``).
"""

from .mix import MixParams, MixupCutmix, cutmix_box, smooth_one_hot

__all__ = ["MixParams", "MixupCutmix", "cutmix_box", "smooth_one_hot"]
