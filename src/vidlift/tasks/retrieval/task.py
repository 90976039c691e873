"""Text-video retrieval: rank videos for a caption and captions for a video.

Protocol of CLIP4Clip (Luo et al., "CLIP4Clip: An Empirical Study of CLIP for End to End Video
Clip Retrieval", Neurocomputing 2022): ``frames`` frames per video (12 for MSR-VTT), uniform
TSN segment centres at test time and a random frame inside each segment in training; one
randomly drawn caption per video and epoch in training (``train_caption="random"``; ``"all"``
makes every (video, caption) pair an item, CLIP4Clip's ``--expand_msrvtt_sentences``); the
symmetric InfoNCE loss over the in-batch similarities at the model's logit scale
(:func:`~vidlift.backbones.losses.clip_loss`); R@1/5/10, MdR and MnR both ways over the whole
split (:mod:`.metrics`).

CLIP4Clip's similarity calculators map onto vidlift's transfer axis, not onto the task:

- *meanP* = ``head: video_embedding`` with the default video head (or strategy ``mean_pool``);
- *seqTransf* = ``head: video_embedding`` with transfer strategy ``temporal_transformer``;
- X-Pool (Gorti et al., CVPR 2022) = ``head: xpool``, a text-conditioned pooling head owned by
  the task (:class:`~.heads.XPoolHead`). It pools the video head's per-frame outputs when the
  video head has them (``temporal_transformer``, ``temporal_conv``), else the frame embeddings.

``dataset``: ``{format: <a format providing captioned videos>, **its keys}`` (msrvtt,
msrvtt_1ka, msvd, didemo, activitynet …: :mod:`vidlift.data.datasets.registry` and the reader
of each format), e.g. ``{format: msrvtt, train: train_val_videodatainfo.json, test: ...,
video_root: videos}``; a split's key may name one annotation file or a list of them; paths may
be relative to ``root``. Besides the format's keys: ``queries``, a list of texts (or a text
file, one per line) that ``predict`` ranks instead of the split's captions.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ...backbones.losses import clip_loss
from ...data.datasets import CAPTIONED_VIDEOS, CaptionedVideo, DatasetConfig
from ...data.transforms import VideoTransform
from ...data.video import SegmentSampler
from ...transfer.base import VideoOutput
from ..base import StepOutput, Task
from .clips import CaptionedClips
from .heads import XPoolHead
from .metrics import TIES, V2T_MODES, retrieval_metrics

if TYPE_CHECKING:
    from ...transfer import TransferModel

HEADS = ("video_embedding", "xpool")
TRAIN_CAPTIONS = ("random", "all")
_TEXT_CHUNK = 256


def _first_occurrences(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted unique keys and the position of each one's first occurrence."""
    uniq, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((len(uniq),), len(keys), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys)), reduce="amin")
    return uniq, first


class RetrievalTask(Task):
    """Text-video retrieval (see the module docstring for the protocol and ``dataset`` keys).

    Args:
        dataset: annotation format, paths and options.
        frames: frames per video (CLIP4Clip: 12 on MSR-VTT).
        head: "video_embedding" (cosine of the transfer model's video and text embeddings) or
            "xpool" (X-Pool's text-conditioned pooling; ``xpool_heads``, ``xpool_dropout``).
        max_words: tokens kept per caption (CLIP4Clip: 32); None keeps the model's context.
        train_caption: "random" (one per video and epoch) or "all" (every pair is an item).
        v2t, ties: video-to-text protocol and tie rule (:mod:`.metrics`).
        predict_top_k: captions listed per video by ``predict_step``.
        backend, seed: video decoding backend; seed of frame and caption sampling.
    """

    name = "retrieval"
    dataset_kind = CAPTIONED_VIDEOS
    dataset_task_keys = ("queries",)

    def __init__(self, dataset: dict[str, Any], frames: int = 12, head: str = "video_embedding",
                 xpool_heads: int = 1, xpool_dropout: float = 0.3, max_words: int | None = None,
                 train_caption: str = "random", v2t: str = "best_caption", ties: str = "argsort",
                 predict_top_k: int = 5, backend: str = "pyav", seed: int = 0) -> None:
        super().__init__()
        self.data = DatasetConfig(dataset, self.name, self.dataset_kind, task_keys=self.dataset_task_keys)
        for value, allowed, what in ((head, HEADS, "head"), (train_caption, TRAIN_CAPTIONS, "train_caption"),
                                     (v2t, V2T_MODES, "v2t"), (ties, TIES, "ties")):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
        if frames < 1 or predict_top_k < 1 or (max_words is not None and max_words < 2):
            raise ValueError("frames and predict_top_k must be positive and max_words at least 2")
        self.frames, self.head_name, self.max_words = int(frames), head, max_words
        self.xpool_heads, self.xpool_dropout = int(xpool_heads), float(xpool_dropout)
        self.train_caption, self.v2t, self.ties = train_caption, v2t, ties
        self.predict_top_k, self.backend, self.seed = int(predict_top_k), backend, int(seed)
        self.xpool: XPoolHead | None = None
        self.records: dict[str, list[CaptionedVideo]] = {}
        self._gallery: tuple[Any, list[str], list[str | None], torch.Tensor] | None = None

    # -- model ------------------------------------------------------------------------------
    def setup(self, model: TransferModel) -> None:
        prompt = model.roles["class_prompt"]
        if any(p.requires_grad for p in prompt.parameters()):
            raise ValueError(f"retrieval encodes free captions, never class names, so a learned class prompt "
                             f"({type(prompt).__name__}, e.g. coop) would not train; use it for recognition")
        if "text_conditioner" in model.roles:
            raise ValueError("retrieval cannot use a strategy that conditions the texts on each video's tokens "
                             "(xclip_prompt): scoring every caption against every video would need all tokens")
        if self.head_name == "xpool":
            vh = model.roles["video_head"]
            if not hasattr(vh, "frame_outputs") and any(p.requires_grad for p in vh.parameters()):
                raise ValueError(f"head xpool pools per-frame embeddings, but the video head {type(vh).__name__} "
                                 "gives none, so its parameters would never train; drop it or use head "
                                 "video_embedding")
            bb = model.backbone
            self.xpool = XPoolHead(model.embed_dim, self.xpool_heads, self.xpool_dropout).to(bb.device, bb.dtype)

    def encode_texts(self, model: TransferModel, texts: Sequence[str]) -> torch.Tensor:
        """Captions -> text embeddings (M, E), truncated to ``max_words`` tokens (CLIP4Clip's
        ``max_words``, start and end tokens included: :meth:`TextEncoder.truncate`)."""
        ids = model.tokenize(list(texts))
        if self.max_words is not None:
            ids = model.backbone.require_text("retrieval").truncate(ids, self.max_words)
        return model.encode_text(ids)

    def encode_videos(self, model: TransferModel, batch: dict[str, Any]) -> tuple[VideoOutput, torch.Tensor | None]:
        """The batch's :class:`VideoOutput` and, for X-Pool, the frame sequence (B, T, E) it pools."""
        if self.xpool is None:
            return model.encode_video(batch["video"], batch.get("teacher")), None
        feats = model.video_features(batch["video"], batch.get("teacher"))
        per_frame = getattr(model.roles["video_head"], "frame_outputs", None)
        frames = per_frame(feats) if per_frame is not None else feats.frames
        return VideoOutput(frames.mean(1), feats), frames

    def logits(self, model: TransferModel, video: VideoOutput, frames: torch.Tensor | None,
               text: torch.Tensor) -> torch.Tensor:
        """Scaled similarities of B videos and M texts -> (B, M)."""
        if self.xpool is None:
            return model.logits(video, text)
        return model.backbone.scale_similarity(self.xpool.similarity(text, frames))

    # -- data -------------------------------------------------------------------------------
    def read_split(self, split: str) -> list[CaptionedVideo]:
        """The records (:class:`~vidlift.data.datasets.CaptionedVideo`) of ``split``."""
        records = self.data.records(split)
        if not records:
            raise ValueError(f"retrieval: the {split} split of the {self.data.name} dataset has no video")
        return list(records)

    def has_split(self, split: str) -> bool:
        """Whether the dataset config names ``split``'s annotations ("predict" falls back to "test")."""
        return self.data.has_split(split)

    def dataset(self, split: str, transform: VideoTransform) -> CaptionedClips:
        records = self.read_split(split)
        self.records[split] = records
        train = split == "train"
        ds = CaptionedClips(records, SegmentSampler(self.frames, "train" if train else "test"), transform,
                            self.backend, self.seed, train=train, unfold=train and self.train_caption == "all")
        if train:
            self.follow_epochs(ds)
        return ds

    # -- steps ------------------------------------------------------------------------------
    def training_step(self, model: TransferModel, batch: dict[str, Any]) -> StepOutput:
        video, frames = self.encode_videos(model, batch)
        text = self.encode_texts(model, batch["caption"])
        logits = self.logits(model, video, frames, text)
        loss = clip_loss(logits)
        # The distillation strategy's teacher scores the same clips and captions (TeachCLIP).
        aux = model.auxiliary_losses(video, text=text, logits=logits, pixels=batch["video"],
                                     captions=list(batch["caption"]), max_words=self.max_words)
        total = loss + sum(aux.values()) if aux else loss
        logs = {"retrieval_loss": float(loss.detach()),
                "logit_scale": float(model.backbone.logit_scale_value().detach())}
        logs.update({k: float(v.detach()) for k, v in aux.items()})
        return StepOutput(total, logs)

    @torch.no_grad()
    def evaluation_step(self, model: TransferModel, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """{"video_embedding" (B, E), "video_index" (B,), "text_embedding" (K, E) of the K
        captions of the batch's videos, "text_video" (K,) their video's index, "text_slot" (K,)
        their position among the video's captions; "frames" (B, T, E) for X-Pool}."""
        video, frames = self.encode_videos(model, batch)
        index = batch["index"]
        caps = batch["captions"]
        flat = [c for cs in caps for c in cs]
        text = self.encode_texts(model, flat) if flat else video.embedding.new_zeros(0, video.embedding.shape[1])
        owner = torch.tensor([int(index[i]) for i, cs in enumerate(caps) for _ in cs], dtype=torch.long)
        slot = torch.tensor([j for cs in caps for j in range(len(cs))], dtype=torch.long)
        out = {"video_embedding": video.embedding, "video_index": index, "text_embedding": text,
               "text_video": owner.to(index.device), "text_slot": slot.to(index.device)}
        if frames is not None:
            out["frames"] = frames
        return out

    def similarity_matrix(self, text: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
        """(M, N) similarities of text embeddings (M, E) and videos: embeddings (N, E), or
        frames (N, T, E) with X-Pool (evaluated in eval mode, in chunks)."""
        if self.xpool is None:
            return F.normalize(text.float(), dim=-1) @ F.normalize(videos.float(), dim=-1).t()
        was = self.xpool.training
        self.xpool.eval()
        try:
            return self.xpool.similarity_matrix(text, videos)
        finally:
            self.xpool.train(was)

    def compute_metrics(self, outputs: dict[str, torch.Tensor], split: str) -> dict[str, float]:
        """t2v / v2t R@1, R@5, R@10 (percent), MdR, MnR over the split, plus its numbers of
        videos and texts. A video seen twice (distributed padding) counts once."""
        vids, first = _first_occurrences(outputs["video_index"].long().cpu())
        videos = (outputs["frames"] if self.xpool is not None else outputs["video_embedding"])[first]
        tv, slot = outputs["text_video"].long().cpu(), outputs["text_slot"].long().cpu()
        _, keep = _first_occurrences(tv * (int(slot.max()) + 1 if len(slot) else 1) + slot)
        keep = keep[torch.isin(tv[keep], vids)]
        text, target = outputs["text_embedding"][keep], torch.searchsorted(vids, tv[keep])
        sim = self.similarity_matrix(text, videos)
        metrics = retrieval_metrics(sim, target, ties=self.ties, v2t=self.v2t)
        return {**metrics, "num_videos": float(len(vids)), "num_texts": float(len(target))}

    # -- prediction -------------------------------------------------------------------------
    def _queries(self) -> list[str] | None:
        q = self.data.get("queries")
        if q is None or isinstance(q, list):
            return q
        return [line.strip() for line in self.data.path("queries").read_text().splitlines() if line.strip()]

    def gallery(self, model: TransferModel) -> tuple[list[str], list[str | None], torch.Tensor]:
        """Texts that ``predict`` ranks (``queries``, else every caption of the predict split),
        their videos (None for queries) and embeddings (M, E), computed once per model."""
        if self._gallery is not None and self._gallery[0]() is model:
            return self._gallery[1:]
        texts = self._queries()
        if texts is not None:
            owners: list[str | None] = [None] * len(texts)
        else:
            records = self.records.get("predict") or self.read_split("predict")
            texts = [c for r in records for c in r.captions]
            owners = [r.video_id for r in records for _ in r.captions]
        if not texts:
            raise ValueError("predict has no text to rank: give dataset.queries or a split with captions")
        with torch.no_grad():
            emb = torch.cat([self.encode_texts(model, texts[i : i + _TEXT_CHUNK])
                             for i in range(0, len(texts), _TEXT_CHUNK)])
        self._gallery = (weakref.ref(model), texts, owners, emb)
        return texts, owners, emb

    @torch.no_grad()
    def predict_step(self, model: TransferModel, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Per video: its id, its own captions, and the ``predict_top_k`` best-scoring texts
        of the gallery with their cosine similarity and the video each caption belongs to."""
        texts, owners, emb = self.gallery(model)
        video, frames = self.encode_videos(model, batch)
        sim = self.similarity_matrix(emb, frames if self.xpool is not None else video.embedding).t()
        scores, idx = sim.topk(min(self.predict_top_k, sim.shape[1]), dim=1)
        out = []
        for b in range(sim.shape[0]):
            top = [{"rank": r + 1, "text": texts[j], "video_id": owners[j], "score": round(float(s), 6)}
                   for r, (s, j) in enumerate(zip(scores[b].tolist(), idx[b].tolist()))]
            rec = {"index": int(batch["index"][b]), "video_id": batch["video_id"][b], "top": top}
            if "captions" in batch:
                rec["captions"] = list(batch["captions"][b])
            out.append(rec)
        return out

    def example_batch(self, transform: VideoTransform, num_frames: int) -> dict[str, Any]:
        batch = super().example_batch(transform, num_frames)
        return {**batch, "caption": ["a video."], "captions": [("a video.",)]}


__all__ = ["RetrievalTask", "HEADS"]
