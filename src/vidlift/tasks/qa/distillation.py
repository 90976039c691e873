"""QA's own soft targets: the frozen ILFM's zero-shot answer scores, without a second model.

Two ways to distil answer distributions into a QA student, with the one loss
(:func:`~vidlift.transfer.frozen.distillation.soft_target_loss`, Hinton et al. 2015:
``τ² · KL(softmax(z_teacher / τ) ‖ softmax(z_student / τ))`` over a question's candidates):

- the ``distillation`` transfer strategy (:mod:`vidlift.transfer.frozen.distillation`): its
  teacher — a frozen copy of the ILFM, or a trained run — scores the candidate texts the task
  passes to ``model.auxiliary_losses``; it works with any strategy, adapted ones included, at
  the cost of a second backbone in memory;
- this task option, ``distill_weight`` > 0: the teacher is the model's *own* frozen towers
  answering zero-shot — the backbone's scaled cosines of the mean of the image tower's frame
  embeddings (meanP) and the text tower's embeddings of the candidate texts ("question +
  option" for multiple choice, "question + answer" over the answer vocabulary for open-ended;
  the task's ``template``). No copy is made, so it needs towers that are still the ILFM's:
  only frozen-root strategies (post-network tuning, side-tuning, tower compression, whose
  student's frames come with the frozen tower's as ``VideoFeatures.teacher``).

Why the option stays beside the strategy: it costs no extra memory where the towers are frozen
anyway, which is the common QA setting (a post-network head on frozen features). The task
refuses both at once (they would distil the same targets twice) and refuses the option with an
adapted-root strategy (:func:`check_teacher`), pointing to the strategy.

TeachCLIP (Tian et al., CVPR 2024) distils a teacher's video-text similarity distribution with
such a KL; here the distribution is over a question's candidate answers. (VideoDistill, Zou et
al., CVPR 2024, the survey's KD entry for VideoQA, distils differently — language-aware frame
selection and vision refinement — and is not what this implements.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ...transfer.frozen.distillation import KnowledgeDistillation, soft_target_loss

if TYPE_CHECKING:
    from ...transfer import TransferModel


def check_teacher(model: TransferModel) -> None:
    """Refuse ``distill_weight`` > 0 where no untouched ILFM is left to teach, or where the
    ``distillation`` strategy already distils the answer distribution (module docstring)."""
    if any(isinstance(m, KnowledgeDistillation) for m in model.modules()):
        raise ValueError("qa: distill_weight > 0 and the distillation strategy would both distil the answer "
                         "distribution; set distill_weight 0 (the strategy's teacher does it) or drop the strategy")
    adapted = [s.name for s in model.strategies if s.root != "frozen"]
    if adapted:
        raise ValueError(f"qa: distill_weight > 0 takes the frozen ILFM's zero-shot scores as soft targets, but "
                         f"strategy {', '.join(adapted)} changes the backbone (adapted features), so no untouched "
                         "model is left to be the teacher; set distill_weight 0 and list the distillation strategy "
                         "first (its teacher is a frozen copy of the ILFM), or use frozen-feature strategies")


def teacher_frames(model: TransferModel, features_frames: torch.Tensor, features_teacher: torch.Tensor | None,
                   ) -> torch.Tensor:
    """The frozen image tower's frame embeddings (B, T, E) for the batch: tower_compression's
    teacher frames where a student tower replaced the image tower, else the features' own
    frames (the backbone is untouched: :func:`check_teacher`)."""
    if features_teacher is not None:
        return features_teacher.detach()
    if "frame_encoder" in model.roles:
        raise ValueError("qa: the frame encoder gave no teacher frames in training (is it in eval mode?)")
    return features_frames.detach()


__all__ = ["soft_target_loss", "check_teacher", "teacher_frames"]
