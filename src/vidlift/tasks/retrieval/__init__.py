"""Text-video retrieval: :class:`RetrievalTask` (CLIP4Clip's protocol, meanP / seqTransf via the
transfer axis, X-Pool as a task head), its loss and its metrics."""

from .heads import TextConditionedAttention, XPoolHead
from .loss import cross_entropy_diagonal, symmetric_infonce
from .metrics import rank_metrics, retrieval_metrics, target_ranks, text_to_video_ranks, video_to_text_ranks
from .task import CaptionedClips, RetrievalTask, truncate_tokens

__all__ = [
    "CaptionedClips",
    "RetrievalTask",
    "TextConditionedAttention",
    "XPoolHead",
    "cross_entropy_diagonal",
    "rank_metrics",
    "retrieval_metrics",
    "symmetric_infonce",
    "target_ranks",
    "text_to_video_ranks",
    "truncate_tokens",
    "video_to_text_ranks",
]
