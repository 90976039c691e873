"""Text-video retrieval: rank videos for a caption and captions for a video.

Protocol of CLIP4Clip (Luo et al., "CLIP4Clip: An Empirical Study of CLIP for End to End Video
Clip Retrieval", Neurocomputing 2022): ``frames`` frames per video (12 for MSR-VTT), uniform
TSN segment centres at test time and a random frame inside each segment in training; one
randomly drawn caption per video and epoch in training (``train_caption="random"``; ``"all"``
makes every (video, caption) pair an item, CLIP4Clip's ``--expand_msrvtt_sentences``); the
symmetric InfoNCE loss over the in-batch similarities (:mod:`.loss`) at the model's logit scale;
R@1/5/10, MdR and MnR both ways over the whole split (:mod:`.metrics`).

CLIP4Clip's similarity calculators map onto vidlift's transfer axis, not onto the task:

- *meanP* = ``head: video_embedding`` with the default video head (or strategy ``mean_pool``);
- *seqTransf* = ``head: video_embedding`` with transfer strategy ``temporal_transformer``;
- X-Pool (Gorti et al., CVPR 2022) = ``head: xpool``, a text-conditioned pooling head owned by
  the task (:class:`~.heads.XPoolHead`). It pools the video head's per-frame outputs when the
  video head has them (``temporal_transformer``, ``temporal_conv``), else the frame embeddings.

``dataset`` keys: ``format`` (msrvtt, msrvtt_1ka, msvd, didemo, activitynet); ``train`` / ``val``
/ ``test`` (/ ``predict``, default ``test``): an annotation file or a list of them; ``video_root``;
``root`` (base of relative paths); ``max_missing_ratio``. Per format:

- msrvtt / msrvtt_1ka: ``*.json`` is read with :func:`read_msrvtt`, keeping the MSR-VTT split
  names of ``splits`` (default train: [train], val: [validate, val], test and predict: [test]); ``*.csv``
  with :func:`read_msrvtt_1ka`. For msrvtt_1ka the default train set is every video of the
  train files except the test CSV's (the "9k" training set of the 1k-A protocol).
- msvd: ``captions`` (``AllVideoDescriptions.txt`` format); the splits name the split lists.
- didemo, activitynet: the splits name the JSON files; ``paragraph`` (default true) joins a
  video's sentences into one query (paragraph retrieval, as CLIP4Clip evaluates them).
- ``queries``: a list of texts (or a text file, one per line) that ``predict`` ranks instead of
  the split's captions.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...data.datasets.common import DEFAULT_MAX_MISSING_RATIO
from ...data.transforms import VideoTransform
from ...data.video import SegmentSampler
from ...transfer.base import VideoOutput
from ..base import StepOutput, Task, VideoClips, split_key
from .heads import XPoolHead
from .loss import symmetric_infonce
from .metrics import TIES, V2T_MODES, retrieval_metrics

FORMATS = ("msrvtt", "msrvtt_1ka", "msvd", "didemo", "activitynet")
HEADS = ("video_embedding", "xpool")
TRAIN_CAPTIONS = ("random", "all")
_MSRVTT_SPLITS = {"train": ["train"], "val": ["validate", "val"], "test": ["test"]}
_TEXT_CHUNK = 256


class CaptionedClips(VideoClips):
    """:class:`VideoClips` of captioned videos. Items add ``video_id`` and, in training,
    ``caption`` (one caption: drawn from (seed, epoch, index), or item i's own with
    ``unfold``, where items are (video, caption) pairs); otherwise ``captions`` (all, a tuple)."""

    def __init__(self, records: Sequence[Any], sampler, transform: VideoTransform, backend: str = "pyav",
                 seed: int = 0, train: bool = False, unfold: bool = False) -> None:
        self.records = list(records)
        self.items = ([(r, j) for r, rec in enumerate(self.records) for j in range(len(rec.captions))] if unfold
                      else [(r, None) for r in range(len(self.records))])
        super().__init__([self.records[r].video_path for r, _ in self.items], sampler, transform, backend, seed)
        self.train = train

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, i = split_key(key)  # the engine's sampler sends (epoch, index)
        if epoch is not None:
            self.epoch = epoch
        item = self.clip(i)
        r, j = self.items[i]
        rec = self.records[r]
        item["video_id"] = rec.video_id
        if self.train:
            if j is None:  # its own stream: the frame sampler draws from (seed, epoch, i)
                j = int(np.random.default_rng((self.seed, self.epoch, i, 1)).integers(len(rec.captions)))
            item["caption"] = rec.captions[j]
        else:
            item["captions"] = tuple(rec.captions)
        return item


def truncate_tokens(ids: torch.Tensor, max_words: int | None, text_cfg: Any) -> torch.Tensor:
    """CLIP4Clip's ``max_words``: a row longer than ``max_words`` tokens (start and end tokens
    included) keeps its first ``max_words - 1`` tokens and its end token, then padding. The
    shape (M, L) is unchanged, so the text tower's pooling still finds the end token."""
    if max_words is None or max_words >= ids.shape[1]:
        return ids
    if text_cfg.pool == "argmax":
        end = ids.argmax(1)
    else:
        eos = ids == text_cfg.eos_token_id
        end = torch.where(eos.any(1), eos.int().argmax(1), torch.full_like(ids[:, 0], ids.shape[1] - 1))
    long = end >= max_words
    out = ids.clone()
    out[long, max_words - 1] = ids[long, end[long]]
    out[long, max_words:] = text_cfg.pad_token_id
    return out


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

    def __init__(self, dataset: dict[str, Any], frames: int = 12, head: str = "video_embedding",
                 xpool_heads: int = 1, xpool_dropout: float = 0.3, max_words: int | None = None,
                 train_caption: str = "random", v2t: str = "best_caption", ties: str = "argsort",
                 predict_top_k: int = 5, backend: str = "pyav", seed: int = 0) -> None:
        super().__init__()
        if not isinstance(dataset, dict) or dataset.get("format") not in FORMATS:
            raise ValueError(f"dataset must be a mapping with format one of {FORMATS}, got {dataset!r}")
        for value, allowed, what in ((head, HEADS, "head"), (train_caption, TRAIN_CAPTIONS, "train_caption"),
                                     (v2t, V2T_MODES, "v2t"), (ties, TIES, "ties")):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
        if frames < 1 or predict_top_k < 1 or (max_words is not None and max_words < 2):
            raise ValueError("frames and predict_top_k must be positive and max_words at least 2")
        self.dataset_config = dict(dataset)
        self.frames, self.head_name, self.max_words = int(frames), head, max_words
        self.xpool_heads, self.xpool_dropout = int(xpool_heads), float(xpool_dropout)
        self.train_caption, self.v2t, self.ties = train_caption, v2t, ties
        self.predict_top_k, self.backend, self.seed = int(predict_top_k), backend, int(seed)
        self.xpool: XPoolHead | None = None
        self.records: dict[str, list] = {}
        self._train_sets: list[CaptionedClips] = []
        self._gallery: tuple[Any, list[str], list[str | None], torch.Tensor] | None = None

    # -- model ------------------------------------------------------------------------------
    def setup(self, model: Any) -> None:
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
            ref = next(model.backbone.parameters())
            self.xpool = XPoolHead(model.embed_dim, self.xpool_heads, self.xpool_dropout).to(ref.device, ref.dtype)

    def encode_texts(self, model: Any, texts: Sequence[str]) -> torch.Tensor:
        """Captions -> text embeddings (M, E), truncated to ``max_words`` tokens."""
        ids = truncate_tokens(model.tokenize(list(texts)), self.max_words, model.backbone.cfg.text)
        return model.encode_text(ids)

    def encode_videos(self, model: Any, batch: dict[str, Any]) -> tuple[VideoOutput, torch.Tensor | None]:
        """The batch's :class:`VideoOutput` and, for X-Pool, the frame sequence (B, T, E) it pools."""
        if self.xpool is None:
            return model.encode_video(batch["video"], batch.get("teacher")), None
        feats = model.video_features(batch["video"], batch.get("teacher"))
        per_frame = getattr(model.roles["video_head"], "frame_outputs", None)
        frames = per_frame(feats) if per_frame is not None else feats.frames
        return VideoOutput(frames.mean(1), feats), frames

    def logits(self, model: Any, video: VideoOutput, frames: torch.Tensor | None, text: torch.Tensor) -> torch.Tensor:
        """Scaled similarities of B videos and M texts -> (B, M)."""
        if self.xpool is None:
            return model.logits(video, text)
        bb = model.backbone
        out = bb.logit_scale.exp() * self.xpool.similarity(text, frames)
        return out if bb.logit_bias is None else out + bb.logit_bias

    # -- data -------------------------------------------------------------------------------
    def _path(self, p: str | Path) -> Path:
        p = Path(p).expanduser()
        return p if p.is_absolute() else Path(self.dataset_config.get("root", ".")) / p

    def read_split(self, split: str) -> list:
        """The records (:class:`~vidlift.data.datasets.CaptionedVideo`) of ``split``."""
        cfg, fmt = self.dataset_config, self.dataset_config["format"]
        key = "test" if split == "predict" and "predict" not in cfg else split
        if cfg.get(key) is None:
            raise ValueError(f"retrieval: the dataset config has no {key!r} entry (annotation file of that split)")
        root = cfg.get("video_root")
        root = self._path(root) if root is not None else None
        opts = {"max_missing_ratio": cfg.get("max_missing_ratio", DEFAULT_MAX_MISSING_RATIO)}
        specs = cfg[key] if isinstance(cfg[key], list) else [cfg[key]]
        records: list = []
        for spec in specs:
            path = self._path(spec)
            if fmt in ("msrvtt", "msrvtt_1ka"):
                from ...data.datasets.msrvtt import read_msrvtt, read_msrvtt_1ka

                if path.suffix.lower() == ".csv":
                    records += read_msrvtt_1ka(path, root, **opts)
                    continue
                default = None if fmt == "msrvtt_1ka" and key == "train" else _MSRVTT_SPLITS.get(key, ["test"])
                records += read_msrvtt(path, root, splits=cfg.get("splits", {}).get(key, default), **opts)
            elif fmt == "msvd":
                from ...data.datasets.msvd import read_msvd

                records += read_msvd(self._path(cfg["captions"]), root, split_list=path, **opts)
            elif fmt == "didemo":
                from ...data.datasets.didemo import read_didemo

                records += read_didemo(path, root, cfg.get("paragraph", True), **opts)
            else:
                from ...data.datasets.activitynet import read_activitynet_captions

                records += read_activitynet_captions(path, root, cfg.get("paragraph", True), **opts)
        if fmt == "msrvtt_1ka" and key == "train" and "train" not in cfg.get("splits", {}) and cfg.get("test"):
            test = [self._path(s) for s in (cfg["test"] if isinstance(cfg["test"], list) else [cfg["test"]])]
            from ...data.datasets.msrvtt import read_msrvtt_1ka

            held_out = {r.video_id for p in test if p.suffix.lower() == ".csv" for r in read_msrvtt_1ka(p)}
            records = [r for r in records if r.video_id not in held_out]
        if not records:
            raise ValueError(f"the {split} split of the retrieval dataset has no video")
        return records

    def has_split(self, split: str) -> bool:
        """Whether the dataset config names ``split``'s annotations ("predict" falls back to "test")."""
        cfg = self.dataset_config
        return cfg.get(split) is not None or (split == "predict" and cfg.get("test") is not None)

    def dataset(self, split: str, transform: VideoTransform) -> CaptionedClips:
        records = self.read_split(split)
        self.records[split] = records
        train = split == "train"
        ds = CaptionedClips(records, SegmentSampler(self.frames, "train" if train else "test"), transform,
                            self.backend, self.seed, train=train, unfold=train and self.train_caption == "all")
        if train:
            self._train_sets.append(ds)
        return ds

    def set_epoch(self, epoch: int) -> None:
        for ds in self._train_sets:
            ds.set_epoch(epoch)

    # -- steps ------------------------------------------------------------------------------
    def training_step(self, model: Any, batch: dict[str, Any]) -> StepOutput:
        video, frames = self.encode_videos(model, batch)
        text = self.encode_texts(model, batch["caption"])
        loss = symmetric_infonce(self.logits(model, video, frames, text))
        aux = model.auxiliary_losses(video)
        total = loss + sum(aux.values()) if aux else loss
        logs = {"retrieval_loss": float(loss.detach()), "logit_scale": float(model.backbone.logit_scale.detach().exp())}
        logs.update({k: float(v.detach()) for k, v in aux.items()})
        return StepOutput(total, logs)

    @torch.no_grad()
    def evaluation_step(self, model: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
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
        q = self.dataset_config.get("queries")
        if q is None or isinstance(q, list):
            return q
        return [line.strip() for line in self._path(q).read_text().splitlines() if line.strip()]

    def gallery(self, model: Any) -> tuple[list[str], list[str | None], torch.Tensor]:
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
    def predict_step(self, model: Any, batch: dict[str, Any]) -> list[dict[str, Any]]:
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
        return {**batch, "video_id": ["example"], "caption": ["a video."], "captions": [("a video.",)]}


__all__ = ["RetrievalTask", "CaptionedClips", "truncate_tokens", "FORMATS", "HEADS"]
