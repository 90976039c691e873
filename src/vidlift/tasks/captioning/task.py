"""Video captioning: a transformer decoder over the transferred per-frame video embeddings.

Protocol of CLIP4Caption (Tang et al., ACM MM 2021, arXiv 2110.06615), built on UniVL's caption
decoder (Luo et al., arXiv 2002.06353, ``microsoft/UniVL``; :mod:`.decoder`):

- the video: ``frames`` frames per video (TSN segment centres at test time, a random frame in
  each segment in training), through the backbone and the transfer strategies to per-frame
  embeddings (B, T, E) — the video head's ``frame_outputs`` where it has them (seqTransf, EVL,
  R²-Tuning, the temporal convolution), else the frame embeddings. CLIP4Caption reads frozen
  CLIP features of a CLIP4Clip-tuned model, i.e. post-network tuning; every other transfer
  family applies through the same features. A video head that trains but gives no per-frame
  outputs contributes its pooled embedding as one more memory token (so it trains too).
- training: teacher forcing with token cross-entropy (UniVL: no label smoothing, padding
  ignored), one caption per video per epoch drawn from (seed, epoch, video) — or every
  (video, caption) pair with ``train_caption: all``.
- evaluation: one generated caption per video (beam search, beam 5, no length penalty, as
  UniVL's caption evaluation; ``search: greedy`` for greedy decoding), scored against all of the
  video's captions with BLEU-4, METEOR, ROUGE-L and CIDEr-D (:mod:`.metrics`, × 100).
- captions use the backbone's tokenizer (CLIP BPE for CLIP), ``max_words`` tokens including the
  start and end tokens (CLIP4Caption: 48), and the decoder's word table starts as a copy of the
  text tower's token table (``word_init: text``).

``dataset``: ``{format: <a format providing captioned videos>, **its keys}`` (msrvtt, msvd …:
:mod:`vidlift.data.datasets.registry`). Strategies that only shape class-name texts (a learned
class prompt, CoOp) or that condition texts on videos (X-CLIP's prompt generator) have nothing
to act on here and are refused at setup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ...data.datasets import CAPTIONED_VIDEOS, CaptionedVideo, DatasetConfig
from ...data.transforms import VideoTransform
from ...data.video import SegmentSampler
from ...transfer.base import VideoFeatures, VideoOutput
from ..base import StepOutput, Task
from ..retrieval.clips import CaptionedClips
from .decoder import CaptionDecoder
from .metrics import METRICS, caption_metrics
from .search import beam_search, greedy_search
from .tokens import IGNORE, CaptionVocabulary

if TYPE_CHECKING:
    from ...transfer import TransferModel

TRAIN_CAPTIONS = ("random", "all")
SEARCHES = ("beam", "greedy")
WORD_INITS = ("text", "random")


class CaptioningTask(Task):
    """Video captioning (module docstring for the protocol).

    Args:
        dataset: annotation format, paths and options.
        frames: frames per video (CLIP4Caption: 20).
        max_words: caption tokens, start and end included (CLIP4Caption: 48).
        layers, encoder_layers: decoder layers and transformer layers over the frames (the
            CLIP4Caption reproduction: 2 and 2).
        width: decoder width (default: the text tower's width). heads: default width // 64.
        dropout: UniVL's 0.1. word_init: "text" (copy of the text tower's token table) or "random".
        label_smoothing: of the token cross-entropy (UniVL: 0).
        train_caption: "random" (one per video and epoch) or "all" (every pair is an item).
        search: "beam" or "greedy"; beam_size (UniVL: 5), length_penalty (GNMT alpha; 0 = none).
        metrics: any of bleu, meteor, rouge, cider (METEOR starts a JVM: tens of seconds).
        backend, seed: video decoding backend; seed of frame and caption sampling.
    """

    name = "captioning"
    dataset_kind = CAPTIONED_VIDEOS

    def __init__(self, dataset: dict[str, Any], frames: int = 20, max_words: int = 48, layers: int = 2,
                 encoder_layers: int = 2, width: int | None = None, heads: int | None = None, dropout: float = 0.1,
                 word_init: str = "text", label_smoothing: float = 0.0, train_caption: str = "random",
                 search: str = "beam", beam_size: int = 5, length_penalty: float = 0.0,
                 metrics: Sequence[str] = METRICS, backend: str = "pyav", seed: int = 0) -> None:
        super().__init__()
        self.data = DatasetConfig(dataset, self.name, self.dataset_kind, task_keys=self.dataset_task_keys)
        for value, allowed, what in ((train_caption, TRAIN_CAPTIONS, "train_caption"), (search, SEARCHES, "search"),
                                     (word_init, WORD_INITS, "word_init")):
            if value not in allowed:
                raise ValueError(f"captioning: {what} must be one of {allowed}, got {value!r}")
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        if not metrics or any(m not in METRICS for m in metrics):
            raise ValueError(f"captioning: metrics must be a non-empty list of {list(METRICS)}, got {metrics!r}")
        for value, what, low in ((frames, "frames", 1), (max_words, "max_words", 3), (layers, "layers", 1),
                                 (encoder_layers, "encoder_layers", 0), (beam_size, "beam_size", 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"captioning: {what} must be an integer >= {low}, got {value!r}")
        if not 0.0 <= float(label_smoothing) < 1.0 or not 0.0 <= float(dropout) < 1.0:
            raise ValueError("captioning: label_smoothing and dropout must be in [0, 1)")
        self.frames, self.max_words, self.layers, self.encoder_layers = frames, max_words, layers, encoder_layers
        self.width, self.heads, self.dropout, self.word_init = width, heads, float(dropout), word_init
        self.label_smoothing, self.train_caption = float(label_smoothing), train_caption
        self.search, self.beam_size, self.length_penalty = search, beam_size, float(length_penalty)
        self.metrics, self.backend, self.seed = metrics, backend, int(seed)
        self.decoder: CaptionDecoder | None = None
        self.vocab: CaptionVocabulary | None = None
        self.pooled_token = False

    # -- model ------------------------------------------------------------------------------
    def setup(self, model: TransferModel) -> None:
        """Refuse strategies that have nothing to act on; build the vocabulary and the decoder."""
        strategies = ", ".join(s.name for s in model.strategies) or "none"
        prompt = model.roles["class_prompt"]
        if any(p.requires_grad for p in prompt.parameters()):
            raise ValueError(f"task captioning cannot use the learned class prompt {type(prompt).__name__} "
                             f"(strategies: {strategies}; e.g. coop): captioning never encodes class names, so it "
                             "would not train")
        if "text_conditioner" in model.roles:
            raise ValueError(f"task captioning cannot use a strategy that conditions texts on each video (strategies: "
                             f"{strategies}; e.g. xclip_prompt): captioning scores no text against a video")
        self.vocab = CaptionVocabulary(model.tokenizer, self.max_words)
        text = model.backbone.text_encoder
        table = None
        if self.word_init == "text":
            table = model.backbone.require_text("captioning (word_init: text)").token_embedding_weight
            if self.width is not None and self.width != table.shape[1]:
                raise ValueError(f"captioning: word_init 'text' copies the {table.shape[1]}-wide token table, but "
                                 f"width is {self.width}; drop width or set word_init: random")
        width = self.width or (table.shape[1] if table is not None else text.width if text is not None
                               else model.embed_dim)
        heads = self.heads or max(1, width // 64)
        vh = model.roles["video_head"]
        self.pooled_token = not hasattr(vh, "frame_outputs") and any(p.requires_grad for p in vh.parameters())
        bb = model.backbone
        self.decoder = CaptionDecoder(self.vocab.vocab_size, model.embed_dim, width, heads, self.layers,
                                      self.encoder_layers, max_frames=self.frames + int(self.pooled_token),
                                      max_positions=self.max_words, dropout=self.dropout,
                                      word_table=table).to(bb.device, bb.dtype)

    def _parts(self) -> tuple[CaptionDecoder, CaptionVocabulary]:
        if self.decoder is None or self.vocab is None:
            raise RuntimeError("captioning: call task.setup(model) before using the task")
        return self.decoder, self.vocab

    def video_memory(self, model: TransferModel, batch: dict[str, Any]) -> tuple[VideoOutput, torch.Tensor]:
        """The batch's :class:`VideoOutput` (for auxiliary losses) and the decoder's memory (B, T', W)."""
        decoder, _ = self._parts()
        feats: VideoFeatures = model.video_features(batch["video"], batch.get("teacher"))
        vh = model.roles["video_head"]
        frames = vh.frame_outputs(feats) if hasattr(vh, "frame_outputs") else feats.frames  # (B, T, E)
        if self.pooled_token:
            pooled = vh(feats)
            frames = torch.cat([pooled[:, None].to(frames.dtype), frames], 1)
            video = VideoOutput(pooled, feats)
        else:
            video = VideoOutput(frames.mean(1), feats)
        return video, decoder.encode(frames)

    # -- data -------------------------------------------------------------------------------
    def read_split(self, split: str) -> list[CaptionedVideo]:
        """The records of ``split``; every video needs a caption."""
        records = self.data.records(split)
        if not records:
            raise ValueError(f"captioning: the {split} split of the {self.data.name} dataset has no video")
        return list(records)

    def has_split(self, split: str) -> bool:
        return self.data.has_split(split)

    def dataset(self, split: str, transform: VideoTransform) -> CaptionedClips:
        train = split == "train"
        ds = CaptionedClips(self.read_split(split), SegmentSampler(self.frames, "train" if train else "test"),
                            transform, self.backend, self.seed, train=train,
                            unfold=train and self.train_caption == "all")
        if train:
            self.follow_epochs(ds)
        return ds

    # -- steps ------------------------------------------------------------------------------
    def training_step(self, model: TransferModel, batch: dict[str, Any]) -> StepOutput:
        decoder, vocab = self._parts()
        video, memory = self.video_memory(model, batch)
        inputs, targets = vocab.teacher_forcing(batch["caption"], memory.device)
        logits = decoder(inputs, memory)
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                               label_smoothing=self.label_smoothing)
        aux = model.auxiliary_losses(video)
        total = loss + sum(aux.values()) if aux else loss
        real = targets != IGNORE
        accuracy = (logits.detach().argmax(-1) == targets)[real].float().mean()
        logs = {"caption_loss": float(loss.detach()), "token_accuracy": float(accuracy)}
        logs.update({f"aux_{k}": float(v.detach()) for k, v in aux.items()})
        return StepOutput(total, logs)

    @torch.no_grad()
    def generate(self, model: TransferModel, batch: dict[str, Any]) -> list[str]:
        """One caption per video of the batch (``search``: beam or greedy)."""
        decoder, vocab = self._parts()
        _, memory = self.video_memory(model, batch)

        def step(prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            return decoder(prefix, memory[rows])[:, -1].float().log_softmax(-1)

        args = (step, memory.shape[0], vocab.start_id, vocab.end_id, self.max_words)
        if self.search == "greedy":
            tokens = greedy_search(*args, device=memory.device)
        else:
            tokens = beam_search(*args, beam_size=self.beam_size, length_penalty=self.length_penalty,
                                 device=memory.device)
        return [vocab.decode(t) for t in tokens]

    def evaluation_step(self, model: TransferModel, batch: dict[str, Any]) -> dict[str, list]:
        """Lists, one entry per video: ``video_id``, generated ``caption``, ``references`` (its captions)."""
        return {"video_id": list(batch["video_id"]), "caption": self.generate(model, batch),
                "references": [list(c) for c in batch["captions"]]}

    def compute_metrics(self, outputs: dict[str, Any], split: str) -> dict[str, float]:
        """BLEU-4, METEOR, ROUGE-L, CIDEr (× 100; those in ``metrics``) and ``num_videos``. A video
        seen twice (distributed padding) counts once."""
        preds: dict[str, str] = {}
        refs: dict[str, list[str]] = {}
        for vid, cap, ref in zip(outputs["video_id"], outputs["caption"], outputs["references"]):
            if vid not in preds:
                preds[vid], refs[vid] = cap, ref
        return caption_metrics(preds, refs, self.metrics)

    def predict_step(self, model: TransferModel, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """``{"video_id", "caption"}`` per video (the format :func:`.evaluate.evaluate_files` scores)."""
        return [{"video_id": v, "caption": c} for v, c in zip(batch["video_id"], self.generate(model, batch))]

    def example_batch(self, transform: VideoTransform, num_frames: int) -> dict[str, Any]:
        batch = super().example_batch(transform, num_frames)
        return {**batch, "caption": ["a video."], "captions": [("a video.",)]}

    def extra_repr(self) -> str:
        return (f"format={self.data.name}, frames={self.frames}, max_words={self.max_words}, layers={self.layers}, "
                f"encoder_layers={self.encoder_layers}, search={self.search}, beam_size={self.beam_size}")


__all__ = ["CaptioningTask"]
