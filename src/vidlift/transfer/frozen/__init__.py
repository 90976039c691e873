"""The survey's *frozen features* root: the image-language model's representations stay
unchanged. Knowledge distillation (:mod:`.distillation`), post-network tuning
(:mod:`.post_network`) and side-tuning (:mod:`.side_tuning`: EVL; :mod:`.r2_tuning`)."""

from .distillation import Distillation, StudentEncoder, distillation_loss
from .post_network import MeanPoolHead, TemporalConv, TemporalConvHead, TemporalTransformer, TemporalTransformerHead
from .r2_tuning import R2Head, R2Tuning
from .side_tuning import EVL, EVLHead, TemporalCrossAttention

__all__ = [
    "Distillation", "StudentEncoder", "distillation_loss",
    "MeanPoolHead", "TemporalTransformer", "TemporalTransformerHead", "TemporalConv", "TemporalConvHead",
    "EVL", "EVLHead", "TemporalCrossAttention", "R2Tuning", "R2Head",
]
