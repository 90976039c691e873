"""Temporal grounding: moment retrieval and highlight detection (QVHighlights and kin).

Protocol of QVHighlights / Moment-DETR (Lei et al., NeurIPS 2021): a video is cut into
``clip_length``-second clip units (2 s) and each unit gets one feature; a query's moments are
windows in seconds, its highlight scores one saliency per unit. Here the features come from
the backbone through *any* transfer strategy, end to end:

1. An item is one query with one frame per clip unit of its whole video (:mod:`.clips`; no
   length cap). Batches are padded to the longest video, rounded up to ``frames``.
2. The model encodes the frames in windows of ``frames`` (the T its temporal modules are built
   for; ``metrics.json``'s GFLOPs per clip are per such window), ``eval_windows`` windows per
   forward pass outside training, so a video of any length fits in memory. Each window yields
   its part of the clip sequence: the video head's ``frame_outputs`` when it has them
   (seqTransf, temporal conv), else the per-frame embeddings; a video head that reads the
   query (:class:`~.heads.QueryConditionedVideoHead`, R²-Tuning) computes it from the window's
   features and the :class:`~.heads.TextQuery` with the text layers it asks for. Windows are
   independent (a sliding window without overlap); the grounding head sees the whole video.
   Memory: chunking bounds the *activations* of the image tower (``eval_windows`` windows at
   a time), but an item holds the decoded pixels of its whole video (one frame per clip unit:
   a 1-hour video is 1,800 frames, about 1 GiB at 224 px in float32), and the joined
   features are kept until the head runs: per clip the joint-space embedding, plus, for
   R²-Tuning, the k block outputs it reads (k × 1,800 × 50 × 768 values for ViT-B/32). Batch
   size 1 at evaluation is the setting for very long videos.
3. The query: the text tower's token states up to the end token, cut to ``max_query_tokens``
   (Moment-DETR's ``max_q_l`` 32), its block outputs a head asks for, and the joint-space
   sentence embedding.
4. The grounding head (``head``: "moment_detr", "r2"; ``head_args`` its hyper-parameters)
   predicts windows and saliency and computes its losses; strategy auxiliary losses
   (tower_compression's) are added; ``distillation`` has no soft targets here and refuses.
5. Windows become seconds (fractions of the video's clip units × ``clip_length``),
   post-processed (:func:`~.postprocess.postprocess_windows`: ``clamp`` to the duration,
   ``round_to_clip``, ``nms_threshold``, first ``max_predicted_windows``) and written in the
   QVHighlights submission format; metrics are the official evaluation's
   (:func:`~.metrics.qvhighlights_metrics`).

Strategies that make no sense here are refused at setup, naming the strategy and the task: a
learned class prompt (CoOp), a video-conditioned text prompt (X-CLIP's prompt generator), and a
video head with trainable parameters that gives one pooled embedding and no per-frame outputs
(EVL, X-CLIP's MIT), whose parameters would never train.

``dataset``: any format of kind MOMENT_QUERIES (qvhighlights …), e.g. ``{format: qvhighlights,
root: data/qvh, video_root: videos, train: highlight_train_release.jsonl, val: ...}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ...data.datasets import MOMENT_QUERIES, DatasetConfig, GroundingQuery
from ...data.transforms import VideoTransform
from ...transfer.base import VideoFeatures, VideoOutput
from ..base import StepOutput, Task
from .clips import GroundingClips, collate_grounding
from .heads import (
    GroundingHead,
    GroundingInputs,
    GroundingOutput,
    GroundingTargets,
    QueryConditionedVideoHead,
    TextQuery,
    head_class,
)
from .metrics import OFFICIAL_MAX_WINDOWS, qvhighlights_metrics
from .postprocess import postprocess_windows

if TYPE_CHECKING:
    from ...transfer import TransferModel


def _qid(value: Any) -> Any:
    """A query id as annotated (collate turns integer ids into a tensor)."""
    return value.item() if isinstance(value, torch.Tensor) else value


def join_windows(parts: list[VideoFeatures], batch: int) -> VideoFeatures:
    """Features of B·K windows of F frames (in groups, window-major per video) -> one
    :class:`VideoFeatures` of B videos of K·F frames: frames (B, K·F, E), tokens and layers
    (B, K·F, N, D), teacher (B, K·F, E)."""

    def join(ts: list[torch.Tensor | None]) -> torch.Tensor | None:
        if ts[0] is None:
            return None
        x = torch.cat(ts)
        return x.reshape(batch, -1, *x.shape[2:])

    first = parts[0]
    layers = {i: join([f.layers[i] for f in parts]) for i in first.layers}
    return VideoFeatures(join([f.frames for f in parts]), join([f.tokens for f in parts]), layers,
                         first.num_prefix_tokens, join([f.teacher for f in parts]))


class GroundingTask(Task):
    """Moment retrieval + highlight detection (module docstring).

    Args:
        dataset: annotation format, paths and options (kind MOMENT_QUERIES).
        frames: the window the transfer model is built for (clip units per forward window).
        head, head_args: the grounding head by name and its hyper-parameters.
        clip_length: seconds per clip unit (QVHighlights: 2); must match the annotation's.
        max_query_tokens: text tokens kept, start and end tokens included (Moment-DETR: 32).
        max_windows: ground-truth windows kept per training query (Moment-DETR: a random 5).
        clamp, round_to_clip, nms_threshold, max_predicted_windows: post-processing of the
            predicted windows (Moment-DETR's inference: clamp, round to 2 s, no NMS, 10).
            ``max_predicted_windows`` is how many a submission line lists; the metrics score
            the first 10 of them whatever it is, as the official evaluator does.
        eval_windows: windows encoded per forward pass in evaluation and prediction.
        backend, seed: video decoding backend; seed of the data's random choices.
    """

    name = "grounding"
    headline_metrics = ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "MR-full-mAP@0.5", "MR-full-mAP@0.75",
                        "MR-full-mIoU", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1", "num_queries")
    dataset_kind = MOMENT_QUERIES

    def __init__(self, dataset: dict[str, Any], frames: int = 8, head: str = "moment_detr",
                 head_args: dict[str, Any] | None = None, clip_length: float = 2.0, max_query_tokens: int = 32,
                 max_windows: int | None = 5, clamp: bool = True, round_to_clip: bool = True,
                 nms_threshold: float | None = None, max_predicted_windows: int = 10, eval_windows: int = 64,
                 backend: str = "pyav", seed: int = 0) -> None:
        super().__init__()
        self.data = DatasetConfig(dataset, self.name, self.dataset_kind, task_keys=self.dataset_task_keys)
        head_class(head)  # an unknown head fails here, with the known ones
        if frames < 1 or eval_windows < 1 or max_predicted_windows < 1:
            raise ValueError("grounding: frames, eval_windows and max_predicted_windows must be positive")
        if not clip_length > 0 or max_query_tokens < 2:
            raise ValueError("grounding: clip_length must be > 0 and max_query_tokens at least 2")
        if nms_threshold is not None and not 0 <= nms_threshold <= 1:
            raise ValueError(f"grounding: nms_threshold must be in [0, 1] or null, got {nms_threshold}")
        self.frames, self.head_name, self.head_args = int(frames), head, dict(head_args or {})
        self.clip_length, self.max_query_tokens = float(clip_length), int(max_query_tokens)
        self.max_windows = max_windows
        self.clamp, self.round_to_clip, self.nms_threshold = bool(clamp), bool(round_to_clip), nms_threshold
        self.max_predicted_windows, self.eval_windows = int(max_predicted_windows), int(eval_windows)
        self.backend, self.seed = backend, int(seed)
        self.head: GroundingHead | None = None
        self.query_conditioned = False
        self.text_layer_ids: list[int] = []

    # -- model ------------------------------------------------------------------------------
    def setup(self, model: TransferModel) -> None:
        names = ", ".join(s.name for s in model.strategies) or "the default (meanP)"
        if any(p.requires_grad for p in model.roles["class_prompt"].parameters()):
            raise ValueError(f"grounding encodes free-text queries, never class names, so a learned class prompt "
                             f"({type(model.roles['class_prompt']).__name__}, strategies {names}) would not train")
        if "text_conditioner" in model.roles:
            raise ValueError(f"grounding cannot use a strategy that conditions class or caption embeddings on the "
                             f"video (xclip_prompt; strategies {names}): its queries need per-token states")
        vh = model.roles["video_head"]
        needs = head_class(self.head_name).needs_video_head
        if needs is not None and not any(s.name == needs for s in model.strategies):
            raise ValueError(f"grounding head {self.head_name!r} reads the {needs} video head's query states and "
                             f"layer-wise embeddings, but the strategies are {names}; use transfer [{{name: {needs}}}] "
                             "with it, or head moment_detr")
        text = model.backbone.require_text("grounding")
        if isinstance(vh, QueryConditionedVideoHead):
            self.query_conditioned, clip_dim = True, int(vh.state_dim)
            layers = set(vh.text_layers(text.depth))
        elif hasattr(vh, "frame_outputs") or not any(p.requires_grad for p in vh.parameters()):
            clip_dim, layers = model.embed_dim, set()
        else:
            raise ValueError(f"grounding needs one output per clip unit, but the video head {type(vh).__name__} "
                             f"(strategies {names}) pools a clip into one embedding and has no frame outputs, so "
                             "its parameters would never train; use a post-network head with per-frame outputs "
                             "(temporal_transformer, temporal_conv) or side-tuning r2_tuning")
        self.head = head_class(self.head_name)(clip_dim, text.width, model.embed_dim, **self.head_args)
        self.head.to(model.backbone.device)
        self.text_layer_ids = sorted(layers | set(self.head.text_layers))

    # -- data -------------------------------------------------------------------------------
    def read_split(self, split: str) -> list[GroundingQuery]:
        """The queries of ``split``; their clip unit must be the task's ``clip_length``."""
        records = self.data.records(split)
        if not records:
            raise ValueError(f"grounding: the {split} split of the {self.data.name} dataset "
                             f"({getattr(records, 'source', None)}) has no query")
        for r in records:
            if abs(r.clip_length - self.clip_length) > 1e-6:
                raise ValueError(f"{records.source}:{r.line}: query {r.qid} is annotated on {r.clip_length:g}-s "
                                 f"clips but the task's clip_length is {self.clip_length:g}; set task.clip_length")
        return list(records)

    def has_split(self, split: str) -> bool:
        return self.data.has_split(split)

    def dataset(self, split: str, transform: VideoTransform) -> GroundingClips:
        train = split == "train"
        ds = GroundingClips(self.read_split(split), self.clip_length, transform, self.backend, self.seed,
                            train=train, max_windows=self.max_windows)
        if train:
            self.follow_epochs(ds)
        return ds

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any] | None:
        return collate_grounding(samples, self.frames)

    # -- encoding ---------------------------------------------------------------------------
    def encode_query(self, model: TransferModel, texts: list[str]) -> TextQuery:
        """Queries -> :class:`TextQuery`: tokens (B, L, D) with L = ``max_query_tokens`` (or
        the tokenizer's length if shorter), mask True from the start to the end token, the
        layers the heads asked for, the joint-space embedding (B, E)."""
        te = model.backbone.require_text("grounding")
        ids = te.truncate(model.tokenize(texts), self.max_query_tokens)
        out = te.features(ids, layers=self.text_layer_ids or None)
        n = min(self.max_query_tokens, ids.shape[1])
        mask = torch.arange(n, device=ids.device)[None] <= te.end_index(ids)[:, None]
        layers = {i: t[:, :n] for i, t in out.layers.items()}
        return TextQuery(out.tokens[:, :n], mask, model.encode_text(ids), layers)

    def clip_sequence(self, model: TransferModel, video: torch.Tensor, clip_mask: torch.Tensor, text: TextQuery,
                      group: int | None = None) -> tuple[torch.Tensor, torch.Tensor, VideoFeatures, dict[str, Any]]:
        """video (B, P, 3, S, S), P a multiple of ``frames`` -> clips (B, P, C), per-clip
        joint-space embeddings (B, P, E), the windows' features joined along time (B, P, ...),
        and the extras of a query-conditioned video head. ``group`` windows per forward pass
        (all at once by default).

        A video head with ``frame_outputs`` runs on each window (its temporal modules are built
        for ``frames``); a query-conditioned one runs once on the joined features of the whole
        video, with the clip mask."""
        b, p = video.shape[:2]
        k = p // self.frames
        windows = video.reshape(b * k, self.frames, *video.shape[2:])
        vh = model.roles["video_head"]
        per_frame = None if self.query_conditioned else getattr(vh, "frame_outputs", None)
        group = group or b * k
        parts: list[VideoFeatures] = []
        seqs = []
        for g in range(0, b * k, group):
            feats = model.video_features(windows[g : g + group])
            parts.append(feats)
            if per_frame is not None:
                seqs.append(per_frame(feats))
        feats = join_windows(parts, b)
        extras: dict[str, Any] = {}
        if self.query_conditioned:
            clips = vh.query_states(feats, text, clip_mask, extras)
        elif per_frame is not None:
            clips = torch.cat(seqs).reshape(b, p, -1)
        else:
            clips = feats.frames
        return clips, feats.frames, feats, extras

    def forward_batch(self, model: TransferModel, batch: dict[str, Any],
                      group: int | None = None) -> tuple[GroundingOutput, VideoFeatures]:
        """The head's output for a collated batch, and the video's joined features."""
        if self.head is None:
            raise RuntimeError("grounding: setup(model) was not called")
        text = self.encode_query(model, list(batch["query"]))
        mask = batch["clip_mask"].to(batch["video"].device)
        clips, emb, feats, extras = self.clip_sequence(model, batch["video"], mask, text, group)
        return self.head(GroundingInputs(clips, mask, emb, text, extras)), feats

    def targets(self, batch: dict[str, Any]) -> GroundingTargets:
        """Windows as fractions of each video's clip units, per-clip summed saliency and the
        relevant clips (the annotated ``relevant_clip_ids``, else the units whose middle lies
        in a window; saliency 1 on them when the annotation has no scores, and ``annotated``
        False)."""
        mask = batch["clip_mask"]
        b, p = mask.shape
        saliency, relevant, windows = torch.zeros(b, p), torch.zeros(b, p, dtype=torch.bool), []
        annotated = torch.tensor([bool(ids) for ids in batch["relevant_clip_ids"]], dtype=torch.bool)
        for i in range(b):
            n = int(batch["num_clips"][i])
            length = n * self.clip_length
            w = torch.tensor(batch["windows"][i], dtype=torch.float32).reshape(-1, 2) / length
            w = w.clamp(0, 1)
            windows.append(w[w[:, 1] > w[:, 0]])
            ids, scores = batch["relevant_clip_ids"][i], batch["saliency_scores"][i]
            if ids:
                for j, c in enumerate(ids):
                    if c < n:
                        relevant[i, c] = True
                        saliency[i, c] = sum(scores[j]) if j < len(scores) else 1.0
            else:
                mid = (torch.arange(n) + 0.5) * self.clip_length
                for s, e in batch["windows"][i]:
                    inside = (mid >= s) & (mid <= e)
                    relevant[i, :n] |= inside
                saliency[i, :n][relevant[i, :n]] = 1.0
        dev = batch["video"].device
        return GroundingTargets([w.to(dev) for w in windows], saliency.to(dev), mask.to(dev), relevant.to(dev),
                                annotated.to(dev))

    # -- steps ------------------------------------------------------------------------------
    def training_step(self, model: TransferModel, batch: dict[str, Any]) -> StepOutput:
        out, feats = self.forward_batch(model, batch)
        losses = self.head.loss(out, self.targets(batch))
        losses.update(model.auxiliary_losses(VideoOutput(feats.frames.mean(1), feats)))
        total = sum(losses.values())
        return StepOutput(total, {k: float(v.detach()) for k, v in losses.items()})

    def predictions(self, out: GroundingOutput, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """QVHighlights submission records (qid, query, vid, pred_relevant_windows [[s, e,
        score], ...] in seconds after post-processing, pred_saliency_scores one per clip unit)."""
        records = []
        for i in range(out.windows.shape[0]):
            n = int(batch["num_clips"][i])
            length = n * self.clip_length
            ann = float(batch["annotated_duration"][i]) if "annotated_duration" in batch else 0.0
            duration = ann if ann > 0 else float(batch["duration"][i])
            w = out.windows[i].detach().float().cpu() * length
            s = out.scores[i].detach().float().cpu()
            if out.window_mask is not None:  # rows padded to the batch's longest list of windows
                real = out.window_mask[i].detach().cpu().bool()
                w, s = w[real], s[real]
            order = torch.sort(s, descending=True, stable=True).indices
            raw = [[float(w[q, 0]), float(w[q, 1]), float(s[q])] for q in order.tolist()]
            windows = postprocess_windows(raw, duration, clip_length=self.clip_length, clamp=self.clamp,
                                          round_to_clip=self.round_to_clip, nms_threshold=self.nms_threshold,
                                          max_windows=self.max_predicted_windows)
            records.append({"qid": _qid(batch["qid"][i]), "query": batch["query"][i], "vid": batch["video_id"][i],
                            "pred_relevant_windows": [[round(a, 4), round(b, 4), round(c, 4)] for a, b, c in windows],
                            "pred_saliency_scores": [round(float(x), 4) for x in out.saliency[i, :n].tolist()]})
        return records

    @torch.no_grad()
    def evaluation_step(self, model: TransferModel, batch: dict[str, Any]) -> dict[str, Any]:
        """{"submission": per query its submission record, "ground_truth": per query the
        annotation in the QVHighlights format, "loss": (B,) the batch's head loss (the sum of
        the weighted terms, as in training, without dropout), repeated per query so that the
        split's mean weighs batches by their size}."""
        out, _ = self.forward_batch(model, batch, self.eval_windows)
        # the losses draw random pairs / positives: keep them off the generators training uses
        device = batch["video"].device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            loss = sum(self.head.loss(out, self.targets(batch)).values())
        truth = [{"qid": _qid(batch["qid"][i]), "query": batch["query"][i], "vid": batch["video_id"][i],
                  "duration": float(batch["annotated_duration"][i]), "relevant_windows": batch["windows"][i],
                  "relevant_clip_ids": batch["relevant_clip_ids"][i], "saliency_scores": batch["saliency_scores"][i]}
                 for i in range(len(batch["qid"]))]
        return {"submission": self.predictions(out, batch), "ground_truth": truth,
                "loss": loss.detach().float().reshape(1).expand(len(truth)).clone()}

    def compute_metrics(self, outputs: dict[str, Any], split: str) -> dict[str, float]:
        """The official QVHighlights metrics over the split, plus its number of queries and the
        mean head loss (``loss``; ``val/loss`` in the logs)."""
        seen, sub, gt = set(), [], []
        for s, g in zip(outputs["submission"], outputs["ground_truth"]):
            if s["qid"] not in seen:  # a query evaluated twice counts once
                seen.add(s["qid"])
                sub.append(s)
                gt.append(g)
        # the official evaluator scores the first 10 windows of a query, however many are written
        metrics = qvhighlights_metrics(sub, gt, max_windows=OFFICIAL_MAX_WINDOWS, clip_length=self.clip_length)
        out = {**{k: float(v) for k, v in metrics.items()}, "num_queries": float(len(sub))}
        if "loss" in outputs:
            out["loss"] = float(torch.as_tensor(outputs["loss"], dtype=torch.float32).mean())
        return out

    @torch.no_grad()
    def predict_step(self, model: TransferModel, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """One QVHighlights submission record per query."""
        out, _ = self.forward_batch(model, batch, self.eval_windows)
        return self.predictions(out, batch)


__all__ = ["GroundingTask"]
