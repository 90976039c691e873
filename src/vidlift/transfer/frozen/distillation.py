"""Knowledge distillation (the survey's family, frozen root: a frozen ILFM-based teacher gives
soft targets): the teacher scores the batch's texts against its clips, and the student — the
transferred model itself, CLIP-initialised, with whatever other strategies the run lists —
learns those score distributions on top of its task loss.

    task loss + weight · τ² · KL( softmax(z_teacher / τ) ‖ softmax(z_student / τ) )

(Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", 2015: soft targets at
temperature τ, the τ² keeping gradient sizes comparable across τ.) What z is depends on the task,
which passes the student's logits and what the teacher needs to ``model.auxiliary_losses``:

- recognition: logits over the class texts (``class_texts``, ``prompt``); the teacher encodes
  the same class texts with its own text tower;
- retrieval: the in-batch similarity matrix of B clips and their B captions (``captions``),
  distilled along both directions — each clip's distribution over the captions and each
  caption's over the clips — and the two summed: TeachCLIP's coarse-grained teaching (Tian et
  al., "Holistic Features are almost Sufficient for Text-to-Video Retrieval", CVPR 2024);
- QA: the distribution over each question's candidate answers (``candidates``, ``valid``).

Every task passes ``logits`` (B, K) and ``pixels`` (the clips, B, T, C, H, W); the teacher
(:mod:`.teacher`) runs on the pixels without autograd, in training mode only, and is neither a
parameter of the model nor saved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Strategy, VideoFeatures
from ..checks import check_choice, check_number
from ..model import TransferModel
from .teacher import Teacher, frozen_copy

log = logging.getLogger(__name__)

LOSSES = ("kl", "pearson")
_PAD = -1e9  # logits of absent candidates (padding): probability 0 for teacher and student alike


def _scaled(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
            valid: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    if student.shape != teacher.shape:
        raise ValueError(f"student logits {tuple(student.shape)} and teacher logits {tuple(teacher.shape)} differ")
    if temperature <= 0:
        raise ValueError(f"distillation temperature must be positive, got {temperature}")
    s, t = student.float() / temperature, teacher.detach().float() / temperature
    if valid is not None:
        s, t = s.masked_fill(~valid, _PAD), t.masked_fill(~valid, _PAD)
    return s, t


def soft_target_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
                     valid: torch.Tensor | None = None) -> torch.Tensor:
    """τ² · KL(softmax(teacher / τ) ‖ softmax(student / τ)), averaged over rows (Hinton et al.).

    student, teacher: logits (B, K); ``valid`` (B, K) bool marks real entries (False: padding,
    e.g. fewer options), which get probability 0 on both sides. 0 when the student's logits
    equal the teacher's up to a constant per row; > 0 otherwise. The teacher is detached."""
    s, t = _scaled(student, teacher, temperature, valid)
    kl = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), reduction="batchmean", log_target=True)
    return kl * temperature**2


def pearson_distance(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
                     valid: torch.Tensor | None = None) -> torch.Tensor:
    """1 − Pearson correlation of softmax(student / τ) and softmax(teacher / τ) per row,
    averaged over rows: the ``pear`` distillation of TeachCLIP's official code (the inter-class
    relation of DIST, Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS
    2022). In [0, 2]; 0 when the distributions agree up to an affine map. No τ² (the distance
    does not scale with the logits). ``valid``: as :func:`soft_target_loss`, the mean over a
    row's valid entries only."""
    s, t = _scaled(student, teacher, temperature, valid)
    p_s, p_t = s.softmax(-1), t.softmax(-1)
    mask = torch.ones_like(p_s) if valid is None else valid.to(p_s.dtype)
    n = mask.sum(-1, keepdim=True)
    c_s = (p_s - (p_s * mask).sum(-1, keepdim=True) / n) * mask
    c_t = (p_t - (p_t * mask).sum(-1, keepdim=True) / n) * mask
    return (1 - F.cosine_similarity(c_s, c_t, dim=-1, eps=1e-12)).mean()


def distillation_term(student: torch.Tensor, teacher: torch.Tensor, temperature: float, loss: str = "kl",
                      valid: torch.Tensor | None = None, both_directions: bool = False) -> torch.Tensor:
    """The soft-target term of ``loss`` (:data:`LOSSES`) on logits (B, K); with
    ``both_directions`` (a square in-batch similarity matrix) the sum of the term on the rows
    and on the columns, as TeachCLIP's train.py sums its video-to-text and text-to-video terms."""
    fn = {"kl": soft_target_loss, "pearson": pearson_distance}[loss]
    term = fn(student, teacher, temperature, valid)
    if both_directions:
        term = term + fn(student.t(), teacher.t(), temperature, None if valid is None else valid.t())
    return term


class KnowledgeDistillation(nn.Module):
    """The distillation term, added to the task loss by ``model.auxiliary_losses``. Holds the
    :class:`~.teacher.Teacher` outside the module tree (no parameters, nothing in
    ``state_dict``); a non-persistent empty buffer follows the student's device and dtype, and
    the teacher follows it when used."""

    def __init__(self, teacher: Teacher, weight: float, temperature: float, loss: str) -> None:
        super().__init__()
        self.source = teacher  # a plain object: nn.Module registers modules, not this
        self.weight, self.temperature, self.loss = weight, temperature, loss
        self.register_buffer("anchor", torch.zeros(0), persistent=False)

    @property
    def teacher(self) -> TransferModel:
        """The teacher model, loaded if needed, on the student's device and dtype."""
        return self.source.model(self.anchor.device, self.anchor.dtype)

    def teacher_logits(self, pixels: torch.Tensor, *, class_texts: Sequence[str] | None = None,
                       prompt: str | None = None, captions: Sequence[str] | None = None,
                       candidates: Sequence[str] | Sequence[Sequence[str]] | None = None,
                       max_words: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The teacher's logits (B, K) for clips ``pixels`` (B, T, C, H, W) against exactly one
        of ``class_texts`` (recognition), ``captions`` (retrieval: (B, B)) or ``candidates``
        (QA), and which entries are valid (candidates only; else None). No autograd."""
        given = [k for k, v in (("class_texts", class_texts), ("captions", captions), ("candidates", candidates))
                 if v is not None]
        if len(given) != 1:
            raise ValueError(f"distillation: the task must pass exactly one of class_texts, captions, candidates to "
                             f"model.auxiliary_losses, got {given or 'none'}")
        teacher = self.teacher
        with torch.no_grad():
            video = self.source.encode_video(teacher, pixels)
            if class_texts is not None:
                return self.source.class_logits(teacher, video, class_texts, prompt), None
            if captions is not None:
                return self.source.caption_logits(teacher, video, captions, max_words), None
            return self.source.candidate_logits(teacher, video, candidates, max_words)

    def auxiliary_loss(self, features: VideoFeatures, text: torch.Tensor | None = None, *,
                       logits: torch.Tensor | None = None, pixels: torch.Tensor | None = None,
                       valid: torch.Tensor | None = None, **texts) -> torch.Tensor | None:
        """weight · (the :func:`distillation_term`) of the student's ``logits`` (B, K) against
        the teacher's on ``pixels``; ``texts``: what :meth:`teacher_logits` takes. None in eval
        mode and at weight 0 (the teacher does not run); a ValueError when the task passed no
        logits or pixels (a task without soft targets for the teacher)."""
        if not self.training or self.weight == 0:
            return None
        if logits is None or pixels is None:
            raise ValueError("distillation: the training step passed model.auxiliary_losses no student logits and "
                             "clip pixels (logits=, pixels=), so the teacher has nothing to distil; the recognition, "
                             "retrieval and qa tasks pass them (grounding and captioning have no soft targets for "
                             "it: use tower_compression there)")
        known = {k: texts.pop(k) for k in ("class_texts", "prompt", "captions", "candidates", "max_words")
                 if k in texts}
        target, target_valid = self.teacher_logits(pixels, **known)
        if target.shape != logits.shape:
            raise ValueError(f"distillation: the student's logits {tuple(logits.shape)} and the teacher's "
                             f"{tuple(target.shape)} over the same texts differ")
        if target_valid is not None:
            valid = target_valid if valid is None else valid & target_valid
        both = known.get("captions") is not None  # retrieval's in-batch clip x caption matrix
        return self.weight * distillation_term(logits, target, self.temperature, self.loss, valid, both)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, temperature={self.temperature}, loss={self.loss!r}"


@dataclass
class Distillation(Strategy):
    """Soft-target distillation from a frozen teacher into the transferred model (the survey's
    knowledge-distillation family; TeachCLIP, Tian et al., CVPR 2024, for retrieval; Hinton et
    al. 2015 for the loss).

    - ``teacher``: None (default) — the frozen, untouched ILFM: a copy of the backbone taken
      when this strategy applies, so list ``distillation`` before any strategy that changes the
      backbone (it refuses otherwise, naming that strategy); or the folder of a trained vidlift
      run (``config.yaml`` + ``delta.safetensors``), loaded on first use in training — a student
      trained from it reloads for inference without that folder. The teacher costs a second
      backbone's memory and one teacher forward per training step; nothing at inference.
    - ``weight`` 1.0 (>= 0; 0 turns the term off and the teacher never runs).
    - ``temperature`` τ 1.0 (> 0): TeachCLIP divides the teacher's and student's similarity
      matrices by ``beta`` 1.0 — logits already at CLIP's logit scale (100).
    - ``loss``: ``kl`` (default; τ² · KL(p_teacher ‖ p_student), Hinton's form and TeachCLIP's
      ``ce`` method up to the teacher's entropy) or ``pearson`` (1 − Pearson correlation of the
      two distributions: TeachCLIP's ``pear`` method, its configs' default; no τ²).

    Retrieval distils both directions of the clip × caption matrix, summed (TeachCLIP's
    train.py). Departures from TeachCLIP's official run (ruc-aimc-lab/TeachCLIP): one teacher,
    not the average over X-CLIP and TS2-Net; no fine-grained term (its student's AFA frame
    weights imitating the teacher's sentence-to-frame similarities — vidlift's video heads give
    no text-conditioned frame weights); its loss weights (``ce``: gt + 10 · the term as a mean
    over the B² matrix entries, i.e. weight 10 / B here; ``pear``: 0.2 · gt + 1 · the term, i.e.
    weight 5 here with the task loss at 1) are not the default.

    The student is the model with the other listed strategies (e.g. ``temporal_transformer`` as
    CLIP4Clip's seqTransf, ``full_finetune``); this strategy trains nothing itself.
    """

    name: ClassVar[str] = "distillation"
    family: ClassVar[str] = "knowledge distillation"
    paper: ClassVar[str] = "Tian et al., CVPR 2024 (TeachCLIP); Hinton et al. 2015 (soft targets)"
    teacher: str | None = None
    weight: float = 1.0
    temperature: float = 1.0
    loss: str = "kl"

    def __post_init__(self) -> None:
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            raise ValueError(f"{self.name}: teacher must be a run folder (a path) or None for the frozen ILFM, "
                             f"got {self.teacher!r}")
        check_number(self.name, "weight", self.weight, low=0.0)
        check_number(self.name, "temperature", self.temperature, low=0.0, low_open=True)
        check_choice(self.name, "loss", self.loss, LOSSES)

    def apply(self, model: TransferModel) -> None:
        if self.teacher is None:
            model.backbone.require_text(self.name)  # the teacher scores texts with the ILFM's text tower
            source = Teacher(frozen_copy(model, self.name))
        else:
            if not Path(self.teacher).is_dir():
                # Not refused here: a student trained from this run must reload for inference without it.
                log.warning("%s: teacher %s is not a folder; training will fail when the teacher is first needed",
                            self.name, self.teacher)
            source = Teacher(run=self.teacher)
        module = model.place(KnowledgeDistillation(source, float(self.weight), float(self.temperature), self.loss))
        model.add_head("distillation", module,
                       f"soft targets ({self.loss}, τ={self.temperature:g}, weight {self.weight:g}) from "
                       f"{source.describe()}: frozen, training only, not saved")


__all__ = ["Distillation", "KnowledgeDistillation", "soft_target_loss", "pearson_distance", "distillation_term",
           "LOSSES"]
