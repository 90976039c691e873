"""Recognition heads: video output -> class logits (B, C), on any TransferModel.

- ``linear``: a new ``nn.Linear(E, C)`` on the clip embedding — the standard classifier of
  fine-tuned video transformers (TimeSformer, ViViT) and of adapter methods such as AIM and
  ST-Adapter.
- ``text_init``: Text4Vis (Wu et al., "Revisiting Classifier: Transferring Vision-Language
  Models for Video Recognition", AAAI 2023): a linear classifier whose weights are the
  class-name text embeddings, computed once at setup; it trains unless
  ``freeze_classifier`` (Text4Vis' frozen-classifier variant). Logits are the backbone's
  scaled cosine, ``exp(logit_scale) · v̂ · ŵ_c`` (+ SigLIP's bias): at initialisation they
  equal the zero-shot logits, and the weights are re-normalised at every step, so the
  classifier learns directions, as Text4Vis' cosine classifier does.
- ``similarity``: ActionCLIP (Wang et al., "ActionCLIP: A New Paradigm for Video Action
  Recognition", arXiv 2109.08472) / ViFi-CLIP: ``model.logits(video, model.encode_classes(names))``
  with the class texts recomputed at every training step, so whatever trains on the text
  side (CoOp context, X-CLIP's video-conditioned prompts, the text tower) learns.
- ``zero_shot``: the same logits with nothing trained (CLIP's zero-shot transfer, Radford et
  al., ICML 2021).

During evaluation the text side is fixed, so the similarity heads encode the class texts
once per evaluation (:meth:`ClassTextHead.reset_cache` starts a new one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ...transfer import TransferModel
    from ...transfer.base import VideoOutput


class RecognitionHead(nn.Module):
    """``forward(model, video_output, cache=False, text=None) -> logits (B, C)``; ``text`` is
    what :meth:`class_text` returned for this step (computed when not given).

    Class attributes say what the head does with the model's class prompt: ``trains`` (it has
    something to train), ``encodes_class_texts`` (it reads class texts through the prompt),
    ``trains_class_prompt`` (the prompt's parameters get a gradient through it).
    """

    trains: ClassVar[bool] = True
    encodes_class_texts: ClassVar[bool] = True
    trains_class_prompt: ClassVar[bool] = False

    @classmethod
    def build(cls, model: TransferModel, class_texts: Sequence[str], *, freeze_classifier: bool = False,
              seed: int = 0) -> RecognitionHead:
        """The head for ``model`` and the class texts (the task's options it may use)."""
        raise NotImplementedError

    def class_text(self, model: TransferModel, cache: bool = False) -> torch.Tensor | None:
        """(C, E) class embeddings the logits compare against (None for a linear classifier);
        the task passes them on to ``model.auxiliary_losses`` (distillation's logit term)."""
        return None

    def reset_cache(self) -> None:
        """Forget anything computed for the current evaluation."""


class LinearHead(RecognitionHead):
    """``nn.Linear(E, C)`` on the (unnormalised) clip embedding; weights ~ N(0, 0.02²) drawn
    from ``seed``, zero bias (timm's classifier initialisation)."""

    encodes_class_texts: ClassVar[bool] = False

    @classmethod
    def build(cls, model, class_texts, *, freeze_classifier=False, seed=0) -> LinearHead:
        return cls(model.embed_dim, len(class_texts), seed)

    def __init__(self, embed_dim: int, num_classes: int, seed: int = 0) -> None:
        super().__init__()
        self.fc = nn.Linear(embed_dim, num_classes)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(num_classes, embed_dim, generator=g) * 0.02)
            self.fc.bias.zero_()

    def forward(self, model: TransferModel, video: VideoOutput, cache: bool = False,
                text: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(video.embedding.to(self.fc.weight.dtype))


class TextInitHead(RecognitionHead):
    """Text4Vis' classifier: ``weight`` (C, E) starts as the unit-norm class text embeddings
    ``model.encode_classes(class_texts)`` (no gradient at setup); logits
    ``model.backbone.logits(video.embedding, weight)`` (scaled cosine). Video-conditioned
    text (a strategy's text conditioner) is not applied: the classifier is a fixed matrix."""

    @classmethod
    def build(cls, model, class_texts, *, freeze_classifier=False, seed=0) -> TextInitHead:
        return cls(model, class_texts, freeze_classifier)

    def __init__(self, model: TransferModel, class_texts: Sequence[str], freeze_classifier: bool = False) -> None:
        super().__init__()
        with torch.no_grad():
            weight = F.normalize(model.encode_classes(list(class_texts)).float(), dim=-1)
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=not freeze_classifier)
        self.freeze_classifier = freeze_classifier

    def class_text(self, model: TransferModel, cache: bool = False) -> torch.Tensor:
        return self.weight

    def forward(self, model: TransferModel, video: VideoOutput, cache: bool = False,
                text: torch.Tensor | None = None) -> torch.Tensor:
        emb = video.embedding
        return model.backbone.logits(emb, self.weight.to(emb.dtype))


class ClassTextHead(RecognitionHead):
    """Logits against the class texts through the model's class prompt and text conditioner:
    ``model.logits(video, model.encode_classes(class_texts))``. No parameters of its own."""

    @classmethod
    def build(cls, model, class_texts, *, freeze_classifier=False, seed=0) -> ClassTextHead:
        return cls(class_texts)

    def __init__(self, class_texts: Sequence[str]) -> None:
        super().__init__()
        self.class_texts = list(class_texts)
        self._cache: torch.Tensor | None = None

    def reset_cache(self) -> None:
        self._cache = None

    def class_text(self, model: TransferModel, cache: bool = False) -> torch.Tensor:
        """(C, E) class text embeddings: fresh (and differentiable) unless ``cache``, which
        reuses one computation (under no_grad) until :meth:`reset_cache`."""
        if not cache:
            return model.encode_classes(self.class_texts)
        device = model.backbone.device
        if self._cache is None or self._cache.device != device:
            with torch.no_grad():
                self._cache = model.encode_classes(self.class_texts).detach()
        return self._cache

    def forward(self, model: TransferModel, video: VideoOutput, cache: bool = False,
                text: torch.Tensor | None = None) -> torch.Tensor:
        return model.logits(video, self.class_text(model, cache) if text is None else text)


class SimilarityHead(ClassTextHead):
    """ActionCLIP / ViFi-CLIP: class texts recomputed at every training step (see module doc)."""

    trains_class_prompt: ClassVar[bool] = True


class ZeroShotHead(ClassTextHead):
    """CLIP zero-shot: the similarity head with nothing to train."""

    trains: ClassVar[bool] = False


def actionclip_kl_loss(model: TransferModel, video: VideoOutput, class_text: torch.Tensor,
                       labels: torch.Tensor) -> torch.Tensor:
    """ActionCLIP's loss: symmetric KL between the in-batch video→text and text→video softmax
    and the ground truth that pairs clip i with text j when their labels agree.

    ``class_text`` (C, E); ``labels`` (B,). The B texts are the clips' own class texts, the
    logits (B, B) ``model.logits(video, class_text[labels])``; the target of each row is
    ``softmax(10 · same_label)`` and each direction is ``KL(target ‖ softmax(logits))``
    averaged over rows, as in ActionCLIP's ``KLLoss`` (KLDivLoss(mean) × batch size); the
    loss is the mean of the two directions.
    """
    logits = model.logits(video, class_text[labels]).float()  # (B, B): video i, text of clip j
    same = (labels[:, None] == labels[None, :]).float()  # symmetric: one target for both directions
    target = F.softmax(10.0 * same, dim=1)
    to_text = F.kl_div(F.log_softmax(logits, dim=1), target, reduction="batchmean")
    to_video = F.kl_div(F.log_softmax(logits.t(), dim=1), target, reduction="batchmean")
    return (to_text + to_video) / 2


# Every head, one line each.
HEADS: dict[str, type[RecognitionHead]] = {
    "linear": LinearHead,
    "text_init": TextInitHead,
    "similarity": SimilarityHead,
    "zero_shot": ZeroShotHead,
}


def build_head(name: str, model: TransferModel, class_texts: Sequence[str], *, freeze_classifier: bool = False,
               seed: int = 0) -> RecognitionHead:
    """The head called ``name`` (one of :data:`HEADS`) for ``model`` and the class texts."""
    if name not in HEADS:
        raise ValueError(f"unknown recognition head {name!r}; heads: {', '.join(HEADS)}")
    return HEADS[name].build(model, class_texts, freeze_classifier=freeze_classifier, seed=seed)


__all__ = ["HEADS", "RecognitionHead", "LinearHead", "TextInitHead", "ClassTextHead", "SimilarityHead",
           "ZeroShotHead", "actionclip_kl_loss", "build_head"]
