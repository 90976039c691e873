"""The survey's *frozen features* root: the image-language model's representations stay
unchanged. Knowledge distillation (:mod:`.distillation`: soft targets from a frozen teacher;
:mod:`.tower_compression`: a smaller image tower learns the frozen one), post-network tuning
(:mod:`.post_network`) and side-tuning (:mod:`.side_tuning`: EVL; :mod:`.r2_tuning`)."""

from .distillation import Distillation, KnowledgeDistillation, distillation_term, pearson_distance, soft_target_loss
from .post_network import MeanPoolHead, TemporalConv, TemporalConvHead, TemporalTransformer, TemporalTransformerHead
from .r2_tuning import R2Head, R2Tuning
from .side_tuning import EVL, EVLHead, TemporalCrossAttention
from .teacher import Teacher
from .tower_compression import StudentEncoder, TowerCompression, tower_distillation_loss

__all__ = [
    "Distillation", "KnowledgeDistillation", "Teacher", "soft_target_loss", "pearson_distance", "distillation_term",
    "TowerCompression", "StudentEncoder", "tower_distillation_loss",
    "MeanPoolHead", "TemporalTransformer", "TemporalTransformerHead", "TemporalConv", "TemporalConvHead",
    "EVL", "EVLHead", "TemporalCrossAttention", "R2Tuning", "R2Head",
]
