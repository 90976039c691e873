"""Text-video retrieval: :class:`RetrievalTask` (CLIP4Clip's protocol, meanP / seqTransf via the
transfer axis, X-Pool as a task head), its captioned clips and its metrics. The loss is the
symmetric InfoNCE of :func:`vidlift.backbones.losses.clip_loss`."""

from .clips import CaptionedClips
from .heads import XPoolHead
from .metrics import rank_metrics, retrieval_metrics, target_ranks, text_to_video_ranks, video_to_text_ranks
from .task import RetrievalTask

__all__ = [
    "CaptionedClips",
    "RetrievalTask",
    "XPoolHead",
    "rank_metrics",
    "retrieval_metrics",
    "target_ranks",
    "text_to_video_ranks",
    "video_to_text_ranks",
]
