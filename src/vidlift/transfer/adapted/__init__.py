"""The survey's *adapted features* root: the image-language model's representations change.
Full fine-tuning and partial tuning (:mod:`.tuning`), fine-tuning with extra models
(:mod:`.extra_models`), adapters (:mod:`.adapters`), LoRA (:mod:`.lora`) and prompt tuning
(:mod:`.prompts`)."""

from .adapters import AIM, AdaptFormer, STAdapter
from .extra_models import XCLIP, DividedSpaceTime
from .lora import Lora
from .prompts import CoOp, Vpt, XClipPrompt
from .tuning import FullFinetune, PartialTuning

__all__ = [
    "AIM", "AdaptFormer", "STAdapter", "XCLIP", "DividedSpaceTime", "Lora", "CoOp", "Vpt", "XClipPrompt",
    "FullFinetune", "PartialTuning",
]
