"""Knowledge distillation: the frozen image tower is the teacher; a smaller student image tower
learns to reproduce its frame embeddings and their in-batch similarity structure, and replaces
it at inference (the survey's "knowledge distillation" family, frozen root: the teacher's
representation is the fixed target).

:class:`Distillation` fills the ``frame_encoder`` role with a :class:`StudentEncoder`, called as
``encoder(model, video, teacher)``::

    video (B, T, C, H, W) ─ student ViT ─ Linear(width -> E) ─▶ frames (B, T, E)
                          └ frozen backbone (training only, no autograd) ─▶ teacher (B, T, E)

The teacher runs only while the student is in training mode and no teacher frames were passed
in (e.g. from the feature cache); in eval mode the student alone runs, so inference costs
the student only. ``StudentEncoder.auxiliary_loss(features)`` gives the distillation loss,
which :meth:`TransferModel.auxiliary_losses` adds to the task loss.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...backbones.config import VisionConfig
from ...backbones.layers import init_weights
from ...backbones.vision import VisionTransformer
from ..base import Strategy, TransferCompositionError, TransferModel, VideoFeatures


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, cosine_weight: float = 1.0,
                      kl_weight: float = 1.0, kl_temperature: float = 0.07,
                      relational_weight: float = 0.0) -> torch.Tensor:
    """Distillation loss between student and teacher frame embeddings, both (B, T, E).

    - cosine: mean over frames of 1 − cos(student, teacher) (feature mimicking);
    - kl: on clip embeddings (mean over T, L2-normalised) s_i, t_j: KL(P ‖ Q) with the teacher's
      in-batch distribution P_i = softmax_j(t_i·t_j / τ) and the student's cross distribution
      Q_i = softmax_j(s_i·t_j / τ) — the student placed among the teacher's embeddings (CLIP-KD's
      contrastive relational / interactive distillation, Yang et al. CVPR 2024; TeachCLIP
      distils in-batch similarity distributions the same way) — averaged with the transposed
      direction softmax_j(t_i·s_j / τ);
    - relational: smooth-L1 between the in-batch cosine similarity matrices s·sᵀ and t·tᵀ
      (relational KD, Park et al., "Relational Knowledge Distillation", CVPR 2019, which uses a
      Huber loss on pairwise relations).

    All three vanish when the student equals the teacher. Returns the weighted sum (a scalar).
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
    return loss


class StudentEncoder(nn.Module):
    """The student: a :class:`~vidlift.backbones.vision.VisionTransformer` built from ``cfg``
    and a linear projection width -> E into the joint space. Fills the ``frame_encoder`` role.

    ``forward(model, video, teacher=None)``: video (B, T, C, H, W) -> :class:`VideoFeatures`
    with ``frames`` the student's (B, T, E) and ``teacher`` the frozen backbone's (B, T, E), or
    None at inference.
    """

    def __init__(self, cfg: VisionConfig, embed_dim: int, cosine_weight: float, kl_weight: float,
                 kl_temperature: float, relational_weight: float) -> None:
        super().__init__()
        self.visual = VisionTransformer(cfg)
        self.proj = nn.Linear(cfg.width, embed_dim, bias=False)
        # From-scratch init (pretrained towers overwrite it): small-normal linears, as CLIP's
        # projection width^-0.5.
        init_weights(self.visual.transformer)
        nn.init.normal_(self.proj.weight, std=cfg.width**-0.5)
        self.weights = {"cosine_weight": cosine_weight, "kl_weight": kl_weight, "kl_temperature": kl_temperature,
                        "relational_weight": relational_weight}

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, T, C, H, W) -> student frames (B, T, E)."""
        return self.proj(self.visual(video.to(self.proj.weight.dtype)).pooled)

    def forward(self, model: TransferModel, video: torch.Tensor, teacher: torch.Tensor | None = None) -> VideoFeatures:
        if teacher is None and self.training:
            with torch.no_grad():
                teacher = model.backbone_features(video).frames
        frames = self.encode(video)
        return VideoFeatures(frames, num_prefix_tokens=self.visual.num_prefix_tokens,
                             teacher=None if teacher is None else teacher.detach())

    def auxiliary_loss(self, features: VideoFeatures) -> torch.Tensor | None:
        """The distillation loss (:func:`distillation_loss`), or None without teacher frames."""
        if features.teacher is None:
            return None
        return distillation_loss(features.frames, features.teacher, **self.weights)


@dataclass
class Distillation(Strategy):
    """Feature and similarity distillation from the frozen image tower into a smaller student
    image tower (CLIP2TV, Gao et al., arXiv 2111.05610, and TeachCLIP, Tian et al., "Holistic
    Features are almost Sufficient for Text-to-Video Retrieval", CVPR 2024, distil a teacher's
    similarity distribution; CLIP-KD, Yang et al., CVPR 2024, studies these losses for CLIP).

    Student: the project's ViT with the teacher's patch size, resolution and block design
    (class token or MAP pooling, activation, norms) but ``width`` (None: half the teacher's),
    ``layers`` (None: the teacher's) and ``heads`` (None: width // 64, at least 1) — ViT-S/16
    (384 wide, 6 heads, 12 layers, ≈21.7M) from a ViT-B/16 teacher — plus a linear map to E.
    Trained from scratch. Loss (:func:`distillation_loss`): ``cosine_weight`` 1 on the frame
    embeddings, ``kl_weight`` 1 on in-batch similarity distributions at temperature
    ``kl_temperature`` 0.07 (CLIP's initial temperature: cosines lie in [−1, 1], so the logit
    temperature 4 of classic KD would flatten them to uniform), ``relational_weight`` 0
    (RKD-style relations, off by default since the KL term already matches the relations).

    Only the student trains; it replaces the image tower at inference. The teacher's frames
    may come from the feature cache (``model.encode_video(video, teacher=...)``).
    """

    name: ClassVar[str] = "distillation"
    family: ClassVar[str] = "knowledge distillation"
    paper: ClassVar[str] = "Tian et al., CVPR 2024 (TeachCLIP); Gao et al. 2021 (CLIP2TV); Park et al., CVPR 2019 (RKD)"
    needs_frozen_backbone: ClassVar[bool] = True
    width: int | None = None
    layers: int | None = None
    heads: int | None = None
    cosine_weight: float = 1.0
    kl_weight: float = 1.0
    kl_temperature: float = 0.07
    relational_weight: float = 0.0

    def student_config(self, teacher: VisionConfig) -> VisionConfig:
        width = self.width or max(1, teacher.width // 2)
        heads = self.heads or max(1, width // 64)
        if width % heads:
            raise TransferCompositionError(f"{self.name}: student width {width} is not divisible by {heads} heads")
        return dataclasses.replace(teacher, width=width, layers=self.layers or teacher.layers, heads=heads)

    def apply(self, model: TransferModel) -> None:
        readers = [s.name for s in model.strategies if s is not self and s.needs_layers(model.depth)]
        if readers:
            raise TransferCompositionError(
                f"{readers[0]} reads the frozen image tower's intermediate tokens, but {self.name} replaces the "
                "image tower with a student at inference; combine at most one of them")
        if self.kl_temperature <= 0:
            raise TransferCompositionError(f"{self.name}: kl_temperature must be positive")
        cfg = self.student_config(model.backbone.cfg.vision)
        student = StudentEncoder(cfg, model.embed_dim, self.cosine_weight, self.kl_weight, self.kl_temperature,
                                 self.relational_weight)
        ref = model.backbone.visual.pos_embed
        model.set_role("frame_encoder", student.to(device=ref.device, dtype=ref.dtype),
                       f"student ViT {cfg.width}x{cfg.layers} ({cfg.heads} heads) + proj -> {model.embed_dim}")


__all__ = ["Distillation", "StudentEncoder", "distillation_loss"]
