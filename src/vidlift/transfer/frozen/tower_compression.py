"""Image-tower compression: the frozen image tower is the teacher; a smaller student image tower,
trained from scratch, learns to reproduce its frame embeddings and their in-batch similarity
structure, and replaces it at inference (feature distillation into a cheaper tower, as CLIP-KD
studies for CLIP; the survey's "knowledge distillation" family, frozen root).

This is *not* the survey's soft-target distillation into a CLIP-initialised video model, which
is the ``distillation`` strategy (:mod:`.distillation`); the two compose (this student's frames
feed that strategy's student head, the frozen ILFM copy teaches it).

:class:`TowerCompression` fills the ``frame_encoder`` role with a :class:`StudentEncoder`, called as
``encoder(model, video, teacher)``::

    video (B, T, C, H, W) ─ student ViT ─ Linear(width -> E) ─▶ frames (B, T, E)
                          └ frozen backbone (training only, no autograd) ─▶ teacher (B, T, E)

The teacher runs only while the student is in training mode and no teacher frames were passed
in (e.g. from the feature cache); in eval mode the student alone runs, so inference costs
the student only. ``StudentEncoder.auxiliary_loss(features, text=None)`` gives the
distillation loss, which :meth:`TransferModel.auxiliary_losses` adds to the task loss; with
``text`` (the batch's class / caption embeddings (M, E)) it can also distil the teacher's
class logits (Hinton et al.'s soft targets, ``logit_weight``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Strategy, TransferCompositionError, VideoFeatures
from ..checks import check_int, check_number
from ..model import TransferModel


def clip_logits(frames: torch.Tensor, text: torch.Tensor, scale: float) -> torch.Tensor:
    """Scaled cosine similarities of clip embeddings with texts: frames (B, T, E) averaged over
    T (meanP) against text (M, E) -> (B, M), or against per-video texts (B, M, E) -> (B, M)."""
    v = F.normalize(frames.mean(1), dim=-1)
    t = F.normalize(text.to(v.dtype), dim=-1)
    sim = torch.einsum("be,bme->bm", v, t) if t.ndim == 3 else v @ t.t()
    return scale * sim


def tower_distillation_loss(student: torch.Tensor, teacher: torch.Tensor, cosine_weight: float = 1.0,
                      kl_weight: float = 1.0, kl_temperature: float = 0.07,
                      relational_weight: float = 0.0, text: torch.Tensor | None = None,
                      logit_weight: float = 0.0, logit_temperature: float = 2.0,
                      logit_scale: float = 100.0) -> torch.Tensor:
    """Distillation loss between student and teacher frame embeddings, both (B, T, E).

    - cosine: mean over frames of 1 − cos(student, teacher) (feature mimicking);
    - kl: on clip embeddings (mean over T, L2-normalised) s_i, t_j: KL(P ‖ Q) with the teacher's
      in-batch distribution P_i = softmax_j(t_i·t_j / τ) and the student's cross distribution
      Q_i = softmax_j(s_i·t_j / τ) — the student placed among the teacher's embeddings (CLIP-KD's
      contrastive relational / interactive distillation, Yang et al. CVPR 2024) — averaged with
      the transposed
      direction softmax_j(t_i·s_j / τ);
    - relational: smooth-L1 between the in-batch cosine similarity matrices s·sᵀ and t·tᵀ
      (relational KD, Park et al., "Relational Knowledge Distillation", CVPR 2019, which uses a
      Huber loss on pairwise relations).

    - logit: Hinton et al.'s soft-target distillation ("Distilling the Knowledge in a Neural
      Network", 2015) on the class / text logits: KL(softmax(z_t / τ) ‖ softmax(z_s / τ)) · τ²
      with τ = ``logit_temperature``, where z = ``logit_scale`` · cos(mean over T of the frames,
      text) (:func:`clip_logits`) for the teacher's and the student's frames against the same
      ``text`` (M, E) (or per-video texts (B, M, E)), detached: the term trains the student,
      not the text side. Skipped when ``text`` is None.

    All vanish when the student equals the teacher. The kl and relational terms compare clips
    of the batch with each other, so at batch size 1 they are 0 (up to rounding: one clip has
    no in-batch structure); the cosine and logit terms still work there. Returns the weighted
    sum (a scalar).
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student frames {tuple(student.shape)} and teacher frames {tuple(teacher.shape)} differ")
    teacher = teacher.detach().to(student.dtype)
    loss = student.new_zeros(())
    if cosine_weight:
        loss = loss + cosine_weight * (1 - F.cosine_similarity(student, teacher, dim=-1)).mean()
    if kl_weight or relational_weight:
        s = F.normalize(student.mean(1), dim=-1)
        t = F.normalize(teacher.mean(1), dim=-1)
        tt = t @ t.t()
        if kl_weight:
            target = F.log_softmax(tt / kl_temperature, dim=-1)
            kl = 0.0
            for cross in (s @ t.t(), t @ s.t()):
                kl = kl + F.kl_div(F.log_softmax(cross / kl_temperature, dim=-1), target, reduction="batchmean",
                                   log_target=True)
            loss = loss + kl_weight * kl / 2
        if relational_weight:
            loss = loss + relational_weight * F.smooth_l1_loss(s @ s.t(), tt)
    if logit_weight and text is not None:
        text = text.detach()
        log_p_s = F.log_softmax(clip_logits(student, text, logit_scale) / logit_temperature, dim=-1)
        log_p_t = F.log_softmax(clip_logits(teacher, text, logit_scale) / logit_temperature, dim=-1)
        kd = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * logit_temperature**2
        loss = loss + logit_weight * kd
    return loss


class StudentEncoder(nn.Module):
    """The student: an image tower ``visual`` (the backbone's own design at a smaller size,
    ``backbone.image_tower_like``; ``visual(video).pooled`` (B, T, width)) and a linear
    projection width -> E into the joint space. Fills the ``frame_encoder`` role.

    ``forward(model, video, teacher=None)``: video (B, T, C, H, W) -> :class:`VideoFeatures`
    with ``frames`` the student's (B, T, E) and ``teacher`` the frozen backbone's (B, T, E), or
    None at inference.
    """

    def __init__(self, visual: nn.Module, width: int, embed_dim: int, cosine_weight: float, kl_weight: float,
                 kl_temperature: float, relational_weight: float, logit_weight: float = 0.0,
                 logit_temperature: float = 2.0, logit_scale: float = 100.0) -> None:
        super().__init__()
        self.visual = visual  # initialised for training from scratch by the backbone family
        self.proj = nn.Linear(width, embed_dim, bias=False)
        nn.init.normal_(self.proj.weight, std=width**-0.5)  # as CLIP's projection
        self.weights = {"cosine_weight": cosine_weight, "kl_weight": kl_weight, "kl_temperature": kl_temperature,
                        "relational_weight": relational_weight, "logit_weight": logit_weight,
                        "logit_temperature": logit_temperature, "logit_scale": logit_scale}

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, T, C, H, W) -> student frames (B, T, E)."""
        return self.proj(self.visual(video.to(self.proj.weight.dtype)).pooled)

    def forward(self, model: TransferModel, video: torch.Tensor, teacher: torch.Tensor | None = None) -> VideoFeatures:
        if teacher is None and self.training:
            with torch.no_grad():
                teacher = model.backbone_features(video).frames
        frames = self.encode(video)  # frame embeddings only: no tokens, so no prefix tokens to count
        return VideoFeatures(frames, teacher=None if teacher is None else teacher.detach())

    def auxiliary_loss(self, features: VideoFeatures, text: torch.Tensor | None = None,
                       **context) -> torch.Tensor | None:
        """The distillation loss (:func:`tower_distillation_loss`); ``text`` (M, E) (or (B, M, E)):
        the batch's class / caption embeddings, for the logit term. None without teacher frames, and
        None when the only weighted term is the logit term and no ``text`` was given."""
        if features.teacher is None:
            return None
        w = self.weights
        if text is None and not (w["cosine_weight"] or w["kl_weight"] or w["relational_weight"]):
            return None
        return tower_distillation_loss(features.frames, features.teacher, text=text, **w)


@dataclass
class TowerCompression(Strategy):
    """Feature and similarity distillation from the frozen image tower into a smaller student
    image tower (CLIP-KD, Yang et al., "CLIP-KD: An Empirical Study of CLIP Model
    Distillation", CVPR 2024, studies these losses for compressing CLIP; CLIP2TV, Gao et al.,
    arXiv 2111.05610, distils a similarity distribution the same way).

    Student: an image tower of the teacher's own family and design (patch size, resolution,
    class token or MAP pooling, activation, norms; ``backbone.image_tower_like``, so a family
    that cannot build one refuses tower_compression, naming both) but ``width`` (None: half the
    teacher's), ``layers`` (None: the teacher's) and ``heads`` (None: width // 64, at least 1)
    — ViT-S/16 (384 wide, 6 heads, 12 layers, ≈21.7M) from a ViT-B/16 teacher — plus a linear
    map to E. Trained from scratch. Loss (:func:`tower_distillation_loss`): ``cosine_weight`` 1 on
    the frame embeddings, ``kl_weight`` 1 on in-batch similarity distributions at temperature
    ``kl_temperature`` 0.07 (CLIP's initial temperature: cosines lie in [−1, 1], so the logit
    temperature 4 of classic KD would flatten them to uniform), ``relational_weight`` 0
    (RKD-style relations, off by default since the KL term already matches the relations),
    ``logit_weight`` 0 (Hinton-style soft targets on the class / text logits at temperature
    ``logit_temperature`` 2 — the usual KD temperature; the logits are the backbone's frozen
    logit scale times cosines, so unlike raw cosines they are not flattened by τ — computed
    when the training loop passes the batch's text embeddings to
    ``model.auxiliary_losses(video, text=...)``, skipped otherwise). Weights are >= 0 and not
    all 0.

    Only the student trains; it replaces the image tower at inference. The teacher's frames
    may come from the feature cache (``model.encode_video(video, teacher=...)``).
    """

    name: ClassVar[str] = "tower_compression"
    family: ClassVar[str] = "knowledge distillation"
    paper: ClassVar[str] = "Yang et al., CVPR 2024 (CLIP-KD); Gao et al. 2021 (CLIP2TV); Park et al., CVPR 2019 (RKD)"
    needs_frozen_backbone: ClassVar[bool] = True
    width: int | None = None
    layers: int | None = None
    heads: int | None = None
    cosine_weight: float = 1.0
    kl_weight: float = 1.0
    kl_temperature: float = 0.07
    relational_weight: float = 0.0
    logit_weight: float = 0.0
    logit_temperature: float = 2.0

    def __post_init__(self) -> None:
        for f in ("width", "layers", "heads"):
            check_int(self.name, f, getattr(self, f), optional=True)
        weights = ("cosine_weight", "kl_weight", "relational_weight", "logit_weight")
        for f in weights:
            check_number(self.name, f, getattr(self, f), low=0.0)
        if not any(getattr(self, f) for f in weights):
            raise ValueError(f"{self.name}: {', '.join(weights)} are all 0, so the student would learn nothing; "
                             "give at least one a positive weight")
        for f in ("kl_temperature", "logit_temperature"):
            check_number(self.name, f, getattr(self, f), low=0.0, low_open=True)

    def student_size(self, teacher_width: int, teacher_depth: int) -> tuple[int, int, int]:
        """(width, layers, heads) of the student of a teacher image tower of that width and depth."""
        width = self.width or max(1, teacher_width // 2)
        heads = self.heads or max(1, width // 64)
        if width % heads:
            raise TransferCompositionError(f"{self.name}: student width {width} is not divisible by {heads} heads")
        return width, self.layers or teacher_depth, heads

    def apply(self, model: TransferModel) -> None:
        # The student gives frame embeddings only: no block outputs, no final tokens. Checked for
        # every other strategy, listed before or after this one, so the build fails, not a forward.
        for s in model.strategies:
            if s is self:
                continue
            if s.needs_layers(model.depth):
                raise TransferCompositionError(
                    f"{s.name} reads the frozen image tower's intermediate tokens (block outputs), but {self.name} "
                    "replaces the image tower with a student that gives frame embeddings only; combine at most "
                    "one of them")
            if s.needs_tokens:
                raise TransferCompositionError(
                    f"{s.name} reads the image tower's final tokens, but {self.name} replaces the image tower with "
                    "a student that gives frame embeddings only; combine at most one of them")
        bb = model.backbone
        width, layers, heads = self.student_size(model.width, model.depth)
        tower = bb.image_tower_like(width, layers, heads, who=self.name)
        scale = float(bb.logit_scale_value().detach().float())  # frozen: the backbone is the teacher
        student = StudentEncoder(tower, width, model.embed_dim, self.cosine_weight, self.kl_weight, self.kl_temperature,
                                 self.relational_weight, self.logit_weight, self.logit_temperature, scale)
        model.set_role("frame_encoder", model.place(student),
                       f"student {bb.family} image tower {width}x{layers} ({heads} heads) + proj -> {model.embed_dim}")


__all__ = ["TowerCompression", "StudentEncoder", "tower_distillation_loss", "clip_logits"]
