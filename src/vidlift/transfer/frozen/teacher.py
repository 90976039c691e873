"""The teacher of the ``distillation`` strategy (:mod:`.distillation`): a frozen model that
scores a batch's texts against its clips, giving the soft targets a student learns from.

Two sources, both a :class:`~vidlift.transfer.TransferModel` that never trains:

- **the untouched ILFM** (default): a copy of the backbone taken when the strategy applies, so
  before any strategy listed after it changes the backbone in place (LoRA wrappers, adapters,
  prompts; full fine-tuning changes the student's weights, never the copy's). With no
  strategies: the video embedding is the mean of the frame embeddings (CLIP4Clip's meanP, the
  ILFM's zero-shot video embedding), texts go through the ILFM's own text tower, logits are
  its own scaled cosines (:func:`frozen_copy`);
- **a trained vidlift run**: its folder as ``vidlift fit`` wrote it (``config.yaml`` names the
  backbone, ``delta.safetensors`` holds the strategies and their trained tensors), rebuilt with
  :func:`~vidlift.transfer.load_delta` on first use in training (:func:`load_run`). The run
  scores through its transferred model (video embedding against text embeddings, through its
  class prompt and text conditioner), not through a task head: a linear classifier or an
  X-Pool head trained in that run lives in its checkpoint, not in its delta.

The teacher is held by :class:`Teacher`, a plain object rather than a submodule, so its tensors
are in no ``state_dict``, parameter report, optimiser, checkpoint or delta; it follows the
student's device and dtype when it is used.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import yaml

from ...backbones import Backbone, load_backbone
from ..base import TemplatePrompt, TransferCompositionError, VideoFeatures, VideoOutput
from ..model import TransferModel

log = logging.getLogger(__name__)

_CHUNK = 256  # texts through the teacher's text tower at a time
_HEADS_ON_EMBEDDINGS = (None, "similarity", "zero_shot", "video_embedding")  # task heads a delta rebuilds


def frozen_copy(model: TransferModel, who: str) -> TransferModel:
    """A strategy-less TransferModel on a copy of ``model``'s backbone, in eval mode, every
    parameter frozen. Called from a strategy's ``apply``; refuses when a strategy applied
    before it already declared a change inside the backbone (the copy would not be the ILFM)."""
    touched = next((i for i in model.insertions if not i.where.startswith(("heads.", "roles."))), None)
    if touched is not None:
        raise TransferCompositionError(
            f"{who}: list it before {touched.strategy}: its teacher is a copy of the untouched backbone, taken when "
            f"{who} applies, and {touched.strategy} has already declared a change inside the backbone "
            f"({touched.where}: {touched.what})")
    pristine = copy.deepcopy(model.backbone)
    pristine._vidlift_transfer_model = False  # the copy belongs to no TransferModel yet
    teacher = TransferModel(Backbone(pristine, model.preprocess, model.tokenizer, model.meta), (),
                            num_frames=model.num_frames)
    return teacher.eval()


def load_run(folder: str | Path, who: str = "distillation") -> tuple[TransferModel, str | None]:
    """The model of a ``vidlift fit`` run folder, frozen and in eval mode, and the class prompt
    template its recognition task used (None for other tasks or the task's default)."""
    folder = Path(folder)
    config, delta = folder / "config.yaml", folder / "delta.safetensors"
    missing = [p.name for p in (config, delta) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{who}: teacher {folder} has no {' and no '.join(missing)}; give the folder of a "
                                "finished `vidlift fit` run (or leave teacher unset for the frozen ILFM)")
    cfg = yaml.safe_load(config.read_text()) or {}
    if not isinstance(cfg, dict) or not isinstance(cfg.get("backbone"), str):
        raise ValueError(f"{who}: {config} names no backbone spec (key 'backbone'); is it a vidlift run config?")
    from ..delta import load_delta  # delta -> model -> this package's parent: import when needed

    teacher = load_delta(delta, load_backbone(cfg["backbone"]))
    for p in teacher.parameters():
        p.requires_grad_(False)
    task = cfg.get("task") or {}
    if task.get("head") not in _HEADS_ON_EMBEDDINGS:
        log.warning("%s: teacher run %s trained the %s head %r, which lives in its checkpoint, not its delta; the "
                    "teacher scores texts by the similarity of its transferred model's embeddings instead",
                    who, folder, task.get("name"), task.get("head"))
    prompt = task.get("prompt") if task.get("name") == "recognition" else None
    return teacher.eval(), prompt


def _clip(features: VideoFeatures, b: int) -> VideoFeatures:
    """Clip ``b`` of a batch's features, as a batch of one."""
    def one(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[b : b + 1]

    return VideoFeatures(features.frames[b : b + 1], one(features.tokens),
                         {i: t[b : b + 1] for i, t in features.layers.items()}, features.num_prefix_tokens,
                         one(features.teacher), one(features.pooled))


class Teacher:
    """A frozen teacher model and how it scores texts. ``model``: a TransferModel (the ILFM
    copy), or None with ``run`` a run folder to load on first use. ``describe``: for the
    parameter report. Every method runs without autograd, the model in eval mode."""

    def __init__(self, model: TransferModel | None = None, run: str | Path | None = None) -> None:
        if (model is None) == (run is None):
            raise ValueError("a teacher is either a model or a run folder")
        self._model, self.run = model, None if run is None else Path(run)
        self._own_prompt: str | None = None
        self._where: tuple[torch.device, torch.dtype] | None = None
        self._class_cache: dict[tuple, torch.Tensor] = {}

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def describe(self) -> str:
        if self.run is not None:
            return f"the trained run {self.run}"
        return f"a frozen copy of the {self._model.backbone.family} ILFM ({self.num_parameters():,} parameters)"

    def num_parameters(self) -> int:
        return 0 if self._model is None else sum(p.numel() for p in self._model.parameters())

    def model(self, device: torch.device | None = None, dtype: torch.dtype | None = None) -> TransferModel:
        """The teacher, loaded if needed and moved to ``device`` / ``dtype`` (the student's)."""
        if self._model is None:
            self._model, self._own_prompt = load_run(self.run)
        if device is not None and self._where != (device, dtype):
            self._model.to(device=device, dtype=dtype)
            self._where = (device, dtype)
            self._class_cache.clear()
        return self._model.eval()

    # -- scoring (teacher = self.model(...) already placed) ---------------------------------
    @torch.no_grad()
    def encode_video(self, teacher: TransferModel, pixels: torch.Tensor) -> VideoOutput:
        """Clips (B, T, C, H, W) -> the teacher's :class:`VideoOutput`."""
        return teacher.encode_video(pixels.to(teacher.backbone.dtype))

    @torch.no_grad()
    def encode_texts(self, teacher: TransferModel, texts: Sequence[str], max_words: int | None = None) -> torch.Tensor:
        """Texts -> the teacher's text embeddings (N, E), truncated to ``max_words`` tokens."""
        out = []
        for i in range(0, len(texts), _CHUNK):
            ids = teacher.tokenize(list(texts[i : i + _CHUNK]))
            if max_words is not None:
                ids = teacher.backbone.require_text("distillation").truncate(ids, max_words)
            out.append(teacher.encode_text(ids))
        return torch.cat(out)

    @torch.no_grad()
    def class_logits(self, teacher: TransferModel, video: VideoOutput, class_texts: Sequence[str],
                     prompt: str | None = None) -> torch.Tensor:
        """(B, C) logits over the class texts through the teacher's class prompt: a template
        prompt takes the run's own template, else ``prompt`` (the task's); class embeddings
        are computed once per (texts, template)."""
        role = teacher.roles["class_prompt"]
        if isinstance(role, TemplatePrompt) and (self._own_prompt or prompt):
            role.template = self._own_prompt or prompt
        key = (tuple(class_texts), getattr(role, "template", None))
        if key not in self._class_cache:
            self._class_cache = {key: teacher.encode_classes(list(class_texts))}  # one class set per task
        return teacher.logits(video, self._class_cache[key])

    @torch.no_grad()
    def caption_logits(self, teacher: TransferModel, video: VideoOutput, captions: Sequence[str],
                       max_words: int | None = None) -> torch.Tensor:
        """(B, M) logits of B clips against M captions (retrieval's in-batch similarities)."""
        return teacher.logits(video, self.encode_texts(teacher, captions, max_words))

    @torch.no_grad()
    def candidate_logits(self, teacher: TransferModel, video: VideoOutput,
                         candidates: Sequence[str] | Sequence[Sequence[str]], max_words: int | None = None,
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, K) over candidate texts and valid (B, K): ``candidates`` shared by the
        batch (K strings) or per clip (B lists, up to K each; missing ones are not valid)."""
        b = video.embedding.shape[0]
        if all(isinstance(c, str) for c in candidates):
            # a shared candidate set is the answer vocabulary: encoded once, not at every step
            key = ("candidates", tuple(candidates), max_words)
            if key not in self._class_cache:
                self._class_cache = {key: self.encode_texts(teacher, candidates, max_words)}
            logits = teacher.logits(video, self._class_cache[key])
            return logits, torch.ones_like(logits, dtype=torch.bool)
        if len(candidates) != b:
            raise ValueError(f"distillation: {len(candidates)} candidate lists for {b} clips")
        emb = self.encode_texts(teacher, [t for c in candidates for t in c], max_words)
        k = max(len(c) for c in candidates)
        logits = emb.new_zeros(b, k)
        valid = torch.zeros(b, k, dtype=torch.bool, device=emb.device)
        start = 0
        for i, c in enumerate(candidates):  # one clip at a time: a text conditioner sees its own clip
            one = VideoOutput(video.embedding[i : i + 1], _clip(video.features, i))
            logits[i, : len(c)] = teacher.logits(one, emb[start : start + len(c)])[0]
            valid[i, : len(c)] = True
            start += len(c)
        return logits, valid


__all__ = ["Teacher", "frozen_copy", "load_run"]
