"""Distillation for QA: the frozen ILFM's zero-shot answer scores as soft targets.

The survey's knowledge-distillation family (frozen root: the ILFM's representation is the fixed
target) applied to QA. The teacher is the untouched image-language model answering zero-shot:
its scores over a question's candidates are the backbone's scaled cosines of the mean of the
frozen image tower's frame embeddings (meanP) and the frozen text tower's embeddings of the
candidate texts ("question + option" for multiple choice, "question + answer" over the answer
vocabulary for open-ended; the task's ``template``). The student is the transferred model with
its QA head (similarity or fusion). The task adds

    distill_weight · τ² · KL( softmax(z_teacher / τ) ‖ softmax(z_student / τ) )

to its cross-entropy (Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network",
2015: soft targets at temperature τ, the τ² keeping gradient sizes comparable across τ).
TeachCLIP (Tian et al., CVPR 2024) distils a teacher's video-text similarity distribution with
such a KL; here the distribution is over a question's candidate answers and the teacher is the
frozen ILFM itself rather than a stronger video model. (VideoDistill, Zou et al., CVPR 2024, the
survey's KD entry for VideoQA, distils differently — language-aware frame selection and vision
refinement — and is not what this implements.)

Why a task option and not the ``distillation`` transfer strategy: that strategy distils the
image tower's *features* into a smaller student tower and knows nothing of questions and
answers; the soft targets here are over a task's candidates, which only the task has. The two
compose: with ``transfer: [{name: distillation}]`` the student tower's frames feed the QA head
and the frozen tower's frames (``VideoFeatures.teacher``) make the teacher's scores.

The teacher needs the *untouched* ILFM. With only frozen-root strategies (post-network tuning,
side-tuning, distillation) the image and text towers are the ILFM's own, so their frame and text
embeddings are the teacher's. An adapted-root strategy (adapters, LoRA, prompts, partial or full
tuning, extra models) changes the towers in place and vidlift keeps no second copy; the task
refuses ``distill_weight > 0`` with it, naming the strategy (:func:`check_teacher`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from ...transfer import TransferModel

_PAD = -1e9  # logits of absent candidates (padding): probability 0 for teacher and student alike


def soft_target_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
                     valid: torch.Tensor | None = None) -> torch.Tensor:
    """τ² · KL(softmax(teacher / τ) ‖ softmax(student / τ)), averaged over rows.

    student, teacher: logits (B, K); ``valid`` (B, K) bool marks real candidates (False:
    padding, e.g. fewer options), which get probability 0 on both sides. 0 when the student's
    logits equal the teacher's (up to a constant per row); > 0 otherwise. The teacher is
    detached."""
    if student.shape != teacher.shape:
        raise ValueError(f"student logits {tuple(student.shape)} and teacher logits {tuple(teacher.shape)} differ")
    if temperature <= 0:
        raise ValueError(f"distillation temperature must be positive, got {temperature}")
    s, t = student.float() / temperature, teacher.detach().float() / temperature
    if valid is not None:
        s, t = s.masked_fill(~valid, _PAD), t.masked_fill(~valid, _PAD)
    log_p_s, log_p_t = F.log_softmax(s, -1), F.log_softmax(t, -1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * temperature**2


def check_teacher(model: TransferModel) -> None:
    """Refuse QA distillation where no untouched ILFM is left to teach (module docstring)."""
    adapted = [s.name for s in model.strategies if s.root != "frozen"]
    if adapted:
        raise ValueError(f"qa: distill_weight > 0 takes the frozen ILFM's zero-shot scores as soft targets, but "
                         f"strategy {', '.join(adapted)} changes the backbone (adapted features), so no untouched "
                         "model is left to be the teacher; set distill_weight 0, or use frozen-feature strategies "
                         "(post-network tuning, side-tuning, distillation)")


def teacher_frames(model: TransferModel, features_frames: torch.Tensor, features_teacher: torch.Tensor | None,
                   ) -> torch.Tensor:
    """The frozen image tower's frame embeddings (B, T, E) for the batch: the distillation
    strategy's teacher frames where a student tower replaced the image tower, else the
    features' own frames (the backbone is untouched: :func:`check_teacher`)."""
    if features_teacher is not None:
        return features_teacher.detach()
    if "frame_encoder" in model.roles:
        raise ValueError("qa: the frame encoder gave no teacher frames in training (is it in eval mode?)")
    return features_frames.detach()


__all__ = ["soft_target_loss", "check_teacher", "teacher_frames"]
