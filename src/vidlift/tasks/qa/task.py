"""Video question answering: multiple choice and open-ended, on any format of kind QUESTIONS
(NExT-QA CSV, MSRVTT-QA / MSVD-QA JSON, MSRVTT-MC …: :mod:`vidlift.data.datasets.registry`).

- **Multiple choice** (records with ``options``): the video is scored against each of the
  question's options; cross-entropy over the options; accuracy overall, per question type and, for
  NExT-QA, the causal / temporal / descriptive groups pooled over questions with TP merged into TN
  (:mod:`.metrics`, NExT-QA's ``eval_mc.py``).
- **Open-ended** (records without options): classification over the ``num_answers`` (1000) most
  frequent training answers (ties: first occurrence; :func:`~.metrics.answer_vocabulary`);
  training questions whose answer is outside the vocabulary are left out (Just Ask does the same),
  test answers outside it count as wrong; accuracy overall and per question type, plus the share
  of out-of-vocabulary test answers (``oov_percent``).

Heads (:mod:`.heads`): ``similarity`` (CLIP-style cosine of the video and "question + answer"
texts; the zero-shot baseline, trained with cross-entropy) and ``fusion`` (a ClipBERT-style
cross-modal transformer over video tokens and question tokens: post-network tuning).
``distill_weight`` > 0 adds the frozen ILFM's zero-shot answer distribution as soft targets
(:mod:`.distillation`); the ``distillation`` transfer strategy does the same with a teacher of
its own (a frozen ILFM copy or a trained run), for any strategy. Frames: TSN segments
(``frames``), random in training, centres otherwise.

``dataset``: ``{format: <a QUESTIONS format>, **its keys}``; besides the format's keys,
``answers``: the open-ended answer vocabulary (a text file, one answer per line, or a list), for
runs whose config names no train split (otherwise it is read from the train split).

Cost: an item is one question, so a video asked n questions is decoded and encoded n times, in
evaluation too (about 24 questions per video in MSRVTT-QA and MSVD-QA, about 9 in NExT-QA);
in training each question then sees its own random frames. ClipBERT instead batches a video's
questions with one decoding (its QA datasets group examples by video). The similarity head
with open-ended QA and a template naming ``{question}`` encodes all V answers with every
question (V texts per question: setup warns above 100 answers); ``{answer}`` alone shares them.

Strategies: each works with both modes except a learned class prompt (``coop``: QA never
encodes class names, so its context would not train) and, with the fusion head, a
video-conditioned text prompt (``xclip_prompt`` conditions pooled text embeddings, which the
fusion head does not read); these refuse at setup naming strategy and task. ``xclip_prompt``
works with the similarity head, each video conditioning its own candidates.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F

from ...data.datasets import QUESTIONS, DatasetConfig, QASample, Records
from ...data.datasets.common import load_class_list
from ...data.transforms import VideoTransform
from ...data.video import SegmentSampler
from ...transfer.base import VideoFeatures, VideoOutput
from ..base import StepOutput, Task
from .clips import QAClips
from .distillation import check_teacher, soft_target_loss, teacher_frames
from .heads import DEFAULT_TEMPLATE, HEADS, FusionHead, check_template, qa_text
from .metrics import answer_vocabulary, qa_accuracy

if TYPE_CHECKING:
    from ...transfer import TransferModel

log = logging.getLogger(__name__)

MODES = ("auto", "multiple_choice", "open")
_CHUNK = 256  # texts through the text tower at a time when nothing needs their gradient
_NEG = -1e4  # logit of an absent option (fewer options than the batch's widest question)
_MANY = 100  # answers beyond which the similarity head's per-question answer texts get a warning


def _select(features: VideoFeatures, b: int) -> VideoFeatures:
    """Clip ``b`` of a batch's features, as a batch of one."""
    return VideoFeatures(features.frames[b : b + 1], None if features.tokens is None else features.tokens[b : b + 1],
                         {i: t[b : b + 1] for i, t in features.layers.items()}, features.num_prefix_tokens,
                         None if features.teacher is None else features.teacher[b : b + 1])


class QATask(Task):
    """Video QA (see the module docstring).

    Args:
        dataset: annotation format, paths and options (and ``answers``).
        frames: frames per clip.
        mode: ``multiple_choice``, ``open`` or ``auto`` (from the records: options or none).
        head: ``similarity`` or ``fusion``.
        template: a candidate's text from ``{question}`` and ``{answer}`` (default
            "{question} {answer}"); the similarity head and the teacher encode it, the fusion
            head reads its tokens for multiple choice (open-ended fusion reads the question).
        num_answers: open-ended vocabulary size k (1000).
        max_words: tokens kept per text (start and end included); None: the text tower's context.
        fusion_width, fusion_layers, fusion_heads, fusion_dropout: the fusion head (width None:
            the joint-space width E; heads None: width // 64).
        distill_weight, distill_temperature: weight and τ of the soft-target loss (0: off).
        backend, seed: video decoding backend; seed of frame sampling and head init.
    """

    name: ClassVar[str] = "qa"
    dataset_kind: ClassVar[str | None] = QUESTIONS
    dataset_task_keys: ClassVar[tuple[str, ...]] = ("answers",)

    def __init__(self, dataset: dict[str, Any], frames: int = 8, mode: str = "auto", head: str = "similarity",
                 template: str = DEFAULT_TEMPLATE, num_answers: int = 1000, max_words: int | None = None,
                 fusion_width: int | None = None, fusion_layers: int = 2, fusion_heads: int | None = None,
                 fusion_dropout: float = 0.1, distill_weight: float = 0.0, distill_temperature: float = 2.0,
                 backend: str = "pyav", seed: int = 0) -> None:
        super().__init__()
        self.data = DatasetConfig(dataset, self.name, self.dataset_kind, task_keys=self.dataset_task_keys)
        for value, allowed, what in ((mode, MODES, "mode"), (head, HEADS, "head")):
            if value not in allowed:
                raise ValueError(f"qa: {what} must be one of {allowed}, got {value!r}")
        for key, value in (("frames", frames), ("num_answers", num_answers), ("fusion_layers", fusion_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"qa: {key} must be a positive integer, got {value!r}")
        if max_words is not None and (not isinstance(max_words, int) or max_words < 2):
            raise ValueError(f"qa: max_words must be an integer of at least 2 or null, got {max_words!r}")
        if not isinstance(template, str):
            raise ValueError(f"qa: template must be a string, got {template!r}")
        check_template(template)
        if float(distill_weight) < 0 or float(distill_temperature) <= 0:
            raise ValueError(f"qa: distill_weight must be >= 0 and distill_temperature > 0, got {distill_weight!r} "
                             f"and {distill_temperature!r}")
        if not 0 <= float(fusion_dropout) < 1:
            raise ValueError(f"qa: fusion_dropout must be in [0, 1), got {fusion_dropout!r}")
        self.frames, self.mode_name, self.head_name, self.template = frames, mode, head, template
        self.num_answers, self.max_words = num_answers, max_words
        self.fusion_width, self.fusion_layers, self.fusion_heads = fusion_width, fusion_layers, fusion_heads
        self.fusion_dropout = float(fusion_dropout)
        self.distill_weight, self.distill_temperature = float(distill_weight), float(distill_temperature)
        self.backend, self.seed = backend, int(seed)
        self.fusion: FusionHead | None = None
        self.answers: list[str] = []
        self._mode: str | None = None if mode == "auto" else mode
        self._records: dict[str, Records[QASample]] = {}

    # -- annotations ----------------------------------------------------------------------
    def records(self, split: str) -> Records[QASample]:
        if split not in self._records:
            self._records[split] = self.data.records(split)
        return self._records[split]

    def has_split(self, split: str) -> bool:
        return self.data.has_split(split) and len(self.records(split)) > 0

    @property
    def mode(self) -> str:
        """``multiple_choice`` or ``open``: as configured, or from the first configured split's
        records (all with options, or none)."""
        if self._mode is None:
            split = next((s for s in ("train", "val", "test", "predict") if self.data.has_split(s)), None)
            if split is None:
                raise ValueError(f"qa: the {self.data.name} dataset configures no split")
            recs = self.records(split)
            with_options = sum(bool(r.options) for r in recs)
            if 0 < with_options < len(recs):
                first = next(r for r in recs if not r.options)
                raise ValueError(f"qa: {recs.source}:{first.line}: a question without options among multiple-choice "
                                 "questions; set task.mode or fix the file")
            self._mode = "multiple_choice" if with_options else "open"
        return self._mode

    def _vocabulary(self) -> list[str]:
        given = self.data.get("answers")
        if given is not None:
            answers = list(given) if isinstance(given, list) else list(load_class_list(self.data.path("answers")))
            if not answers or len(set(answers)) != len(answers):
                raise ValueError("qa: dataset.answers must list distinct answers, at least one")
            return answers
        if not self.data.has_split("train"):
            raise ValueError("qa: open-ended QA classifies over the most frequent training answers; configure "
                             "dataset.train, or give the vocabulary as dataset.answers (one answer per line)")
        return answer_vocabulary([r.answer for r in self.records("train") if r.answer is not None], self.num_answers)

    # -- model ------------------------------------------------------------------------------
    def setup(self, model: TransferModel) -> None:
        prompt = model.roles["class_prompt"]
        if any(p.requires_grad for p in prompt.parameters()):
            raise ValueError(f"qa encodes questions and answers, never class names, so a learned class prompt "
                             f"({type(prompt).__name__}, e.g. coop) would not train; use it for recognition")
        if self.head_name == "fusion" and "text_conditioner" in model.roles:
            raise ValueError("qa: head fusion reads text tokens, so the video-conditioned text prompt (xclip_prompt) "
                             "would not be used or trained; use head similarity with it")
        if self.distill_weight > 0:
            check_teacher(model)
        if self.mode == "open":
            self.answers = self._vocabulary()
            log.info("qa: %d answers in the vocabulary", len(self.answers))
            if self.head_name == "similarity" and "{question}" in self.template and len(self.answers) > _MANY:
                log.warning("qa: head similarity with template %r encodes every answer with every question: %d texts "
                            "through the text tower per question (times the batch size per step, with gradients in "
                            "training); template '{answer}' encodes the %d answers once per batch, head fusion "
                            "classifies without encoding them", self.template, len(self.answers), len(self.answers))
        if self.head_name == "fusion":
            text = model.backbone.require_text("the qa fusion head")
            bb = model.backbone
            with torch.random.fork_rng(devices=[]):  # the head's init from the task's seed, the global stream untouched
                torch.manual_seed(self.seed)
                head = FusionHead(model.embed_dim, text.width, len(self.answers) if self.mode == "open" else 1,
                                  self.fusion_width or model.embed_dim, self.fusion_layers, self.fusion_heads,
                                  max_frames=self.frames, dropout=self.fusion_dropout)
            self.fusion = head.to(bb.device, bb.dtype)

    def get_extra_state(self) -> dict[str, Any]:
        return {"mode": self._mode, "answers": list(self.answers)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if state.get("mode") != self._mode or list(state.get("answers", [])) != self.answers:
            n = len(state.get("answers", []))
            raise ValueError(f"qa: the checkpoint was trained for mode {state.get('mode')!r} with {n} answers, but "
                             f"this config gives mode {self._mode!r} with {len(self.answers)} answers (another train "
                             "split or num_answers?); the answer classifier would not mean the same answers")

    # -- data -------------------------------------------------------------------------------
    def dataset(self, split: str, transform: VideoTransform) -> QAClips:
        records = list(self.records(split))
        train = split == "train"
        index = {a: i for i, a in enumerate(self.answers)}
        if train and self.mode == "open":
            kept = [r for r in records if r.answer in index]
            if len(kept) < len(records):
                log.info("qa: %d of %d training questions have an answer outside the vocabulary and are left out",
                         len(records) - len(kept), len(records))
            records = kept
        if train and self.mode == "multiple_choice":
            bad = next((r for r in records if r.answer_index is None), None)
            if bad is not None:
                raise ValueError(f"qa: {self.records(split).source}:{bad.line}: a training question without answer")
        if not records:
            raise ValueError(f"qa: the {split} split of the {self.data.name} dataset has no usable question")
        ds = QAClips(records, SegmentSampler(self.frames, "train" if train else "test"), transform, self.backend,
                     self.seed, answers=index)
        self._records[split] = Records(records, source=self.records(split).source)
        if train:
            self.follow_epochs(ds)
        return ds

    # -- texts --------------------------------------------------------------------------------
    def _ids(self, model: TransferModel, texts: list[str]) -> torch.Tensor:
        ids = model.tokenize(texts)
        if self.max_words is not None:
            ids = model.backbone.require_text("qa").truncate(ids, self.max_words)
        return ids

    def encode_texts(self, model: TransferModel, texts: list[str]) -> torch.Tensor:
        """Texts -> embeddings (N, E); in chunks when no gradient is needed."""
        if torch.is_grad_enabled():
            return model.encode_text(self._ids(model, texts))
        return torch.cat([model.encode_text(self._ids(model, texts[i : i + _CHUNK]))
                          for i in range(0, len(texts), _CHUNK)])

    def text_tokens(self, model: TransferModel, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> final token states (N, L', D_text) and their mask (N, L') (True up to the
        end token), L' the longest text's length."""
        enc = model.backbone.require_text("the qa fusion head")
        ids = self._ids(model, texts)
        end = enc.end_index(ids)
        length = int(end.max()) + 1
        tokens = enc.features(ids).tokens[:, :length]
        return tokens, torch.arange(length, device=ids.device)[None, :] <= end[:, None]

    def candidates(self, batch: dict[str, Any]) -> tuple[list[str], torch.Tensor | None, torch.Tensor, int]:
        """The candidate texts of a batch through ``template``: (texts (N,), owner (N,) video of
        each or None when the B videos share them, slot (N,) candidate index, K candidates at most)."""
        questions = batch["question"]
        if self.mode == "multiple_choice":
            pairs = [(b, k, qa_text(self.template, q, o))
                     for b, (q, opts) in enumerate(zip(questions, batch["options"])) for k, o in enumerate(opts)]
            k_max = max(len(o) for o in batch["options"])
        elif "{question}" in self.template:
            pairs = [(b, k, qa_text(self.template, q, a)) for b, q in enumerate(questions)
                     for k, a in enumerate(self.answers)]
            k_max = len(self.answers)
        else:
            texts = [qa_text(self.template, "", a) for a in self.answers]
            return texts, None, torch.arange(len(texts)), len(texts)
        owner = torch.tensor([p[0] for p in pairs], dtype=torch.long)
        slot = torch.tensor([p[1] for p in pairs], dtype=torch.long)
        return [p[2] for p in pairs], owner, slot, k_max

    def candidate_lists(self, batch: dict[str, Any]) -> list[str] | list[list[str]]:
        """The candidate texts as a teacher scores them: one list shared by the batch, or a list
        per question in candidate order (the columns of :meth:`logits`)."""
        texts, owner, _, _ = self.candidates(batch)
        if owner is None:
            return texts
        lists: list[list[str]] = [[] for _ in batch["question"]]
        for text, b in zip(texts, owner.tolist()):  # candidates() lists each question's in slot order
            lists[b].append(text)
        return lists

    # -- scores -------------------------------------------------------------------------------
    def _scatter(self, scores: torch.Tensor, owner: torch.Tensor, slot: torch.Tensor, b: int,
                 k: int) -> tuple[torch.Tensor, torch.Tensor]:
        out = scores.new_full((b, k), _NEG)
        valid = torch.zeros(b, k, dtype=torch.bool, device=scores.device)
        owner, slot = owner.to(scores.device), slot.to(scores.device)
        out = out.index_put((owner, slot), scores)
        valid[owner, slot] = True
        return out, valid

    def cosine_logits(self, model: TransferModel, clip: torch.Tensor, features: VideoFeatures,
                      text: torch.Tensor, owner: torch.Tensor | None, slot: torch.Tensor,
                      k: int, conditioned: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled cosines of B clips (B, E) and candidate embeddings (N, E) -> logits (B, K),
        valid (B, K). ``conditioned``: the model's text conditioner adapts each video's texts."""
        b = clip.shape[0]
        v = F.normalize(clip.float(), dim=-1)
        cond = model.roles["text_conditioner"] if conditioned and "text_conditioner" in model.roles else None
        if owner is None:
            t = text if cond is None else cond(text, features)
            t = F.normalize(t.float(), dim=-1)
            cos = v @ t.t() if t.ndim == 2 else torch.einsum("be,bme->bm", v, t)
            return model.backbone.scale_similarity(cos), torch.ones(b, k, dtype=torch.bool, device=cos.device)
        owner = owner.to(text.device)
        if cond is None:
            cos = (v[owner] * F.normalize(text.float(), dim=-1)).sum(-1)
        else:
            cos = torch.empty(len(owner), dtype=v.dtype, device=v.device)
            for i in range(b):
                rows = (owner == i).nonzero().squeeze(1)
                if len(rows):
                    t = F.normalize(cond(text[rows], _select(features, i))[0].float(), dim=-1)
                    cos = cos.index_put((rows,), t @ v[i])
        return self._scatter(model.backbone.scale_similarity(cos), owner, slot, b, k)

    def fusion_logits(self, model: TransferModel, video: VideoOutput, batch: dict[str, Any],
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """The fusion head's logits (B, K) and valid (B, K)."""
        per_frame = getattr(model.roles["video_head"], "frame_outputs", None)
        frames = per_frame(video.features) if per_frame is not None else video.features.frames
        clip = video.embedding
        if self.mode == "open":
            tokens, mask = self.text_tokens(model, [qa_text("{question}", q, "") for q in batch["question"]])
            logits = self.fusion(clip, frames, tokens, mask)
            return logits, torch.ones_like(logits, dtype=torch.bool)
        texts, owner, slot, k = self.candidates(batch)
        tokens, mask = self.text_tokens(model, texts)
        owner = owner.to(clip.device)
        scores = self.fusion(clip[owner], frames[owner], tokens, mask)[:, 0]
        return self._scatter(scores, owner, slot, clip.shape[0], k)

    def logits(self, model: TransferModel, video: VideoOutput, batch: dict[str, Any],
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The head's logits (B, K) over each question's candidates, valid (B, K), and the
        candidate text embeddings shaped for the strategies' auxiliary losses ((M, E) shared,
        (B, K, E) per video, or None)."""
        if self.head_name == "fusion":
            return (*self.fusion_logits(model, video, batch), None)
        texts, owner, slot, k = self.candidates(batch)
        emb = self.encode_texts(model, texts)
        logits, valid = self.cosine_logits(model, video.embedding, video.features, emb, owner, slot, k, True)
        aux_text = emb if owner is None else (emb.reshape(len(valid), k, -1) if bool(valid.all()) else None)
        return logits, valid, aux_text

    @torch.no_grad()
    def teacher_logits(self, model: TransferModel, video: VideoOutput, batch: dict[str, Any]) -> torch.Tensor:
        """The frozen ILFM's zero-shot logits (B, K) over the candidates (:mod:`.distillation`)."""
        frames = teacher_frames(model, video.features.frames, video.features.teacher)
        texts, owner, slot, k = self.candidates(batch)
        emb = self.encode_texts(model, texts)
        return self.cosine_logits(model, frames.mean(1), video.features, emb, owner, slot, k, False)[0]

    def targets(self, batch: dict[str, Any]) -> torch.Tensor:
        return batch["answer_index"] if self.mode == "multiple_choice" else batch["answer_label"]

    # -- steps ------------------------------------------------------------------------------
    def training_step(self, model: TransferModel, batch: dict[str, Any]) -> StepOutput:
        video = model.encode_video(batch["video"], batch.get("teacher"))
        logits, valid, aux_text = self.logits(model, video, batch)
        target = self.targets(batch).to(logits.device)
        if bool((target < 0).any()):
            raise ValueError("qa: a training batch holds a question without a known answer")
        task_loss = F.cross_entropy(logits.float().masked_fill(~valid, _NEG), target)
        loss, logs = task_loss, {"qa_loss": float(task_loss.detach())}
        if self.distill_weight > 0:
            kd = soft_target_loss(logits, self.teacher_logits(model, video, batch), self.distill_temperature, valid)
            loss = loss + self.distill_weight * kd
            logs["distill_loss"] = float(kd.detach())
        aux = model.auxiliary_losses(video, text=None if aux_text is None else aux_text.detach(), logits=logits,
                                     pixels=batch["video"], candidates=self.candidate_lists(batch), valid=valid,
                                     max_words=self.max_words)
        if aux:
            loss = loss + sum(aux.values())
        logs["accuracy"] = float((logits.detach().masked_fill(~valid, _NEG).argmax(1) == target).float().mean())
        logs.update({f"aux_{k}": float(v.detach()) for k, v in aux.items()})
        return StepOutput(loss, logs)

    @torch.no_grad()
    def scores(self, model: TransferModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax scores (B, K) over each question's candidates (0 for absent options), valid (B, K)."""
        video = model.encode_video(batch["video"], batch.get("teacher"))
        logits, valid, _ = self.logits(model, video, batch)
        return logits.float().masked_fill(~valid, float("-inf")).softmax(-1), valid

    def evaluation_step(self, model: TransferModel, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """{"index" (B,), "prediction" (B,) the best candidate, "target" (B,) the right one (-1: none
        or out of the vocabulary)}."""
        probs, _ = self.scores(model, batch)
        return {"index": batch["index"], "prediction": probs.argmax(1).cpu(), "target": self.targets(batch).cpu()}

    def compute_metrics(self, outputs: dict[str, torch.Tensor], split: str) -> dict[str, float]:
        """``accuracy``, ``acc_<type>`` (and NExT-QA's ``acc_C/T/D``), ``num_questions`` (and
        ``oov_percent`` open-ended), percent (:func:`~.metrics.qa_accuracy`). A question seen
        twice (distributed padding) counts once."""
        index = outputs["index"].long()
        uniq, first = torch.unique(index, return_inverse=True)
        pos = torch.full((len(uniq),), len(index), dtype=torch.long).scatter_reduce_(
            0, first, torch.arange(len(index)), reduce="amin")
        pred, target = outputs["prediction"].long()[pos], outputs["target"].long()[pos]
        records = self._records[split]
        types = [records[int(i)].type for i in uniq]
        metrics = qa_accuracy(((pred == target) & (target >= 0)).tolist(), types)
        if self.mode == "open":
            metrics["oov_percent"] = 100.0 * float((target < 0).float().mean())
        return metrics

    # -- prediction -------------------------------------------------------------------------
    def predict_step(self, model: TransferModel, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Per question ``{qid, video_id, question, prediction, ...}``: multiple choice adds
        ``option`` (the predicted text), ``scores`` (a probability per option) and ``answer_index``
        where known; open-ended gives the answer text as ``prediction`` and adds ``top5``
        ([answer, probability] pairs) and ``answer`` where known. These lines are what
        :func:`~.evaluate.evaluate_files` reads (it needs ``qid`` and ``prediction``)."""
        probs, valid = self.scores(model, batch)
        probs = probs.cpu()
        out = []
        for b in range(probs.shape[0]):
            rec = {"qid": batch["qid"][b], "video_id": batch["video_id"][b], "question": batch["question"][b]}
            if self.mode == "multiple_choice":
                k = int(valid[b].sum())
                best = int(probs[b, :k].argmax())
                rec.update(prediction=best, option=batch["options"][b][best],
                           scores=[round(float(p), 6) for p in probs[b, :k]])
                if int(batch["answer_index"][b]) >= 0:
                    rec["answer_index"] = int(batch["answer_index"][b])
            else:
                top = probs[b].topk(min(5, probs.shape[1]))
                rec.update(prediction=self.answers[int(top.indices[0])],
                           top5=[[self.answers[int(i)], round(float(p), 6)] for p, i in zip(top.values, top.indices)])
                record = self._records.get("predict")
                if record is not None and record[int(batch["index"][b])].answer is not None:
                    rec["answer"] = record[int(batch["index"][b])].answer
            out.append(rec)
        return out

    def example_batch(self, transform: VideoTransform, num_frames: int) -> dict[str, Any]:
        batch = super().example_batch(transform, num_frames)
        options = [("yes", "no")] if self.mode == "multiple_choice" else [()]
        return {**batch, "qid": ["q"], "question": ["what happens?"], "type": [""], "options": options,
                "answer_index": torch.zeros(1, dtype=torch.long), "answer_label": torch.zeros(1, dtype=torch.long)}

    def extra_repr(self) -> str:
        return (f"format={self.data.name}, mode={self._mode}, head={self.head_name}, frames={self.frames}, "
                f"answers={len(self.answers)}, distill_weight={self.distill_weight}")


__all__ = ["QATask", "MODES"]
