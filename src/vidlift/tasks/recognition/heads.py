"""Recognition heads: video output -> class logits (B, C), on any TransferModel.

- ``linear``: a new linear classifier, the standard head of fine-tuned video transformers
  (TimeSformer, ViViT) and of adapter methods. Options (``head: {name: linear, ...}``):
  ``features`` — ``projection`` (the E-wide clip embedding, the default) or
  ``pre_projection`` (the D-wide clip feature before the projection into the joint space,
  ``VideoOutput.pre_projection``), ``dropout`` before the linear layer, ``init_std`` of its
  weights. AIM's I3DHead (taoyang1122/adapt-image-models ``mmaction/models/heads/i3d_head.py``:
  mean over time, dropout 0.5, ``fc_cls`` normal(0, 0.01), zero bias, on the 768-d class
  token after ``ln_post``), ST-Adapter's (linziyi96/st-adapter ``models_adapter.py``: dropout
  0.5, linear normal(0, 0.02), zero bias) and EVL's (OpenGVLab/efficient-video-recognition
  ``model.py``: LayerNorm, dropout 0.5, ``nn.Linear`` with PyTorch's default initialisation:
  ``init_std: null``) are ``features: pre_projection, dropout: 0.5`` with their init.
- ``text_init``: Text4Vis (Wu et al., "Revisiting Classifier: Transferring Vision-Language
  Models for Video Recognition", AAAI 2023): a linear classifier whose weights are the
  class-name text embeddings, computed once at setup and **frozen**, as in Text4Vis' code
  (whwu95/Text4Vis ``train.py`` encodes the class texts once under ``no_grad`` and passes
  them to every step as a plain tensor). ``freeze_classifier: false`` trains it instead (a
  cosine linear probe started at the zero-shot classifier). Logits are the backbone's scaled
  cosine, ``exp(logit_scale) · v̂ · ŵ_c`` (+ SigLIP's bias), as Text4Vis' ``VideoCLIP``
  computes them; at initialisation they equal the zero-shot logits.
- ``similarity``: ActionCLIP (Wang et al., "ActionCLIP: A New Paradigm for Video Action
  Recognition", arXiv 2109.08472) / ViFi-CLIP: ``model.logits(video, model.encode_classes(names))``
  with the class texts recomputed at every training step, so whatever trains on the text
  side (CoOp context, X-CLIP's video-conditioned prompts, the text tower) learns.
- ``zero_shot``: the same logits with nothing trained (CLIP's zero-shot transfer, Radford et
  al., ICML 2021).

During evaluation the text side is fixed, so the similarity heads encode the class texts
once per evaluation (:meth:`ClassTextHead.reset_cache` starts a new one). Given ``templates``
(ActionCLIP's 16, :data:`~.prompts.ACTIONCLIP_TEMPLATES`), they score a clip as ActionCLIP's
``test.py`` does: the class softmax under each template, averaged over the templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

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
    # The head's own options (``head: {name: ..., **options}``) and their defaults.
    options: ClassVar[dict[str, Any]] = {}

    @classmethod
    def build(cls, model: TransferModel, class_texts: Sequence[str], *, freeze_classifier: bool | None = None,
              seed: int = 0, templates: Sequence[str] | None = None, **options: Any) -> RecognitionHead:
        """The head for ``model`` and the class texts (the task's options it may use, and the
        head's own ``options``, already checked against :attr:`options`)."""
        raise NotImplementedError

    def has_trainable(self) -> bool:
        """Whether the head itself has a parameter that trains."""
        return any(p.requires_grad for p in self.parameters())

    def class_text(self, model: TransferModel, cache: bool = False) -> torch.Tensor | None:
        """(C, E) class embeddings the logits compare against (None for a linear classifier);
        the task passes them on to ``model.auxiliary_losses`` (distillation's logit term)."""
        return None

    def reset_cache(self) -> None:
        """Forget anything computed for the current evaluation."""


class LinearHead(RecognitionHead):
    """``nn.Linear(in, C)`` on the (unnormalised) clip feature, after dropout (module doc).

    ``features``: ``projection`` (in = E, ``VideoOutput.embedding``) or ``pre_projection``
    (in = D = ``model.width``, ``VideoOutput.pre_projection``). ``dropout``: probability of
    ``nn.Dropout`` before the layer (active in training only). Weights ~ N(0, ``init_std``²),
    zero bias (timm's classifier initialisation at the default 0.02; AIM's I3DHead 0.01), or
    with ``init_std`` None PyTorch's ``nn.Linear`` default (weights and bias uniform in
    ±1/sqrt(in), EVL); drawn from ``seed``.
    """

    encodes_class_texts: ClassVar[bool] = False
    options: ClassVar[dict[str, Any]] = {"features": "projection", "dropout": 0.0, "init_std": 0.02}
    FEATURES: ClassVar[tuple[str, ...]] = ("projection", "pre_projection")

    @classmethod
    def build(cls, model, class_texts, *, freeze_classifier=None, seed=0, templates=None, **options) -> LinearHead:
        o = {**cls.options, **options}
        if o["features"] not in cls.FEATURES:
            raise ValueError(f"recognition: head.features must be one of {', '.join(cls.FEATURES)}, "
                             f"got {o['features']!r}")
        if o["features"] == "pre_projection":
            video_head = model.roles["video_head"]
            if not callable(getattr(video_head, "encode", None)):
                raise ValueError(f"recognition: head.features pre_projection needs the clip feature before the "
                                 f"projection, which the video head {type(video_head).__name__} does not give "
                                 "(use features: projection, or a video head with one: mean_pool, evl)")
        width = model.width if o["features"] == "pre_projection" else model.embed_dim
        return cls(width, len(class_texts), seed, features=o["features"], dropout=o["dropout"],
                   init_std=o["init_std"])

    def __init__(self, in_features: int, num_classes: int, seed: int = 0, *, features: str = "projection",
                 dropout: float = 0.0, init_std: float | None = 0.02) -> None:
        super().__init__()
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"recognition: head.dropout must be a probability in [0, 1), got {dropout!r}")
        if init_std is not None and (isinstance(init_std, bool) or not isinstance(init_std, (int, float))
                                     or not init_std > 0):
            raise ValueError(f"recognition: head.init_std must be a positive number or null (nn.Linear's "
                             f"default initialisation), got {init_std!r}")
        self.features = features
        self.dropout = nn.Dropout(float(dropout)) if dropout else nn.Identity()
        self.fc = nn.Linear(in_features, num_classes)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            if init_std is None:  # nn.Linear.reset_parameters: kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(in))
                bound = 1.0 / in_features ** 0.5
                self.fc.weight.copy_((torch.rand(num_classes, in_features, generator=g) * 2 - 1) * bound)
                self.fc.bias.copy_((torch.rand(num_classes, generator=g) * 2 - 1) * bound)
            else:
                self.fc.weight.copy_(torch.randn(num_classes, in_features, generator=g) * float(init_std))
                self.fc.bias.zero_()

    def forward(self, model: TransferModel, video: VideoOutput, cache: bool = False,
                text: torch.Tensor | None = None) -> torch.Tensor:
        x = video.embedding
        if self.features == "pre_projection":
            x = video.pre_projection
            if x is None:
                raise ValueError(f"recognition: head.features pre_projection, but the video head "
                                 f"{type(model.roles['video_head']).__name__} gave no pre_projection feature")
        return self.fc(self.dropout(x.to(self.fc.weight.dtype)))


class TextInitHead(RecognitionHead):
    """Text4Vis' classifier: ``weight`` (C, E) is the unit-norm class text embeddings
    ``model.encode_classes(class_texts)`` (no gradient at setup), frozen unless
    ``freeze_classifier`` is False; logits ``model.backbone.logits(video.embedding, weight)``
    (scaled cosine). Video-conditioned text (a strategy's text conditioner) is not applied:
    the classifier is a fixed matrix."""

    @classmethod
    def build(cls, model, class_texts, *, freeze_classifier=None, seed=0, templates=None, **options) -> TextInitHead:
        return cls(model, class_texts, True if freeze_classifier is None else freeze_classifier)

    def __init__(self, model: TransferModel, class_texts: Sequence[str], freeze_classifier: bool = True) -> None:
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
    ``model.logits(video, model.encode_classes(class_texts))``. No parameters of its own.

    With ``templates`` (each with one ``{}``), scores without given texts are ActionCLIP's
    ensemble: ``log(mean_k softmax(model.logits(video, T_k)))`` with ``T_k`` (C, E) the class
    texts in template k, so that their softmax is ActionCLIP's mean over templates of the
    per-template class softmax (sallymmx/ActionCLIP ``test.py``: ``similarity.view(b,
    num_text_aug, -1).softmax(dim=-1).mean(dim=1)``)."""

    @classmethod
    def build(cls, model, class_texts, *, freeze_classifier=None, seed=0, templates=None, **options) -> ClassTextHead:
        return cls(class_texts, templates)

    def __init__(self, class_texts: Sequence[str], templates: Sequence[str] | None = None) -> None:
        super().__init__()
        self.class_texts = list(class_texts)
        self.templates = tuple(templates) if templates else ()
        self._cache: torch.Tensor | None = None
        self._template_cache: torch.Tensor | None = None

    def reset_cache(self) -> None:
        self._cache = self._template_cache = None

    def _encode(self, model: TransferModel, texts: list[str]) -> torch.Tensor:
        return model.encode_text(model.tokenize(texts))

    def template_texts(self, model: TransferModel, cache: bool = False) -> torch.Tensor:
        """(K, C, E): every class text in every template, encoded (once per evaluation when
        ``cache``)."""
        if cache and self._template_cache is not None and self._template_cache.device == model.backbone.device:
            return self._template_cache
        with torch.set_grad_enabled(not cache and torch.is_grad_enabled()):
            out = torch.stack([self._encode(model, [t.format(c) for c in self.class_texts]) for t in self.templates])
        if cache:
            self._template_cache = out.detach()
        return out

    def clip_texts(self, model: TransferModel, labels: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        """(B, E): clip i's class text in its template ``template[i]`` (ActionCLIP's training
        texts, ``train.py``: one random template per clip), with gradient."""
        return self._encode(model, [self.templates[int(k)].format(self.class_texts[int(y)])
                                    for y, k in zip(labels.tolist(), template.tolist())])

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
        if text is None and self.templates:
            probs = torch.stack([model.logits(video, t).float().softmax(-1)
                                 for t in self.template_texts(model, cache)]).mean(0)
            return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
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
    return actionclip_kl_on_texts(model, video, class_text[labels], labels)


def actionclip_kl_on_texts(model: TransferModel, video: VideoOutput, texts: torch.Tensor,
                           labels: torch.Tensor) -> torch.Tensor:
    """:func:`actionclip_kl_loss` on the clips' own texts ``texts`` (B, E) (text j is clip j's
    class text, in whatever template it was drawn in)."""
    logits = model.logits(video, texts).float()  # (B, B): video i, text of clip j
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


def build_head(name: str, model: TransferModel, class_texts: Sequence[str], *, freeze_classifier: bool | None = None,
               seed: int = 0, templates: Sequence[str] | None = None,
               options: Mapping[str, Any] | None = None) -> RecognitionHead:
    """The head called ``name`` (one of :data:`HEADS`) for ``model`` and the class texts;
    ``options`` are the head's own (checked against ``HEADS[name].options``)."""
    if name not in HEADS:
        raise ValueError(f"unknown recognition head {name!r}; heads: {', '.join(HEADS)}")
    cls = HEADS[name]
    unknown = [k for k in (options or {}) if k not in cls.options]
    if unknown:
        known = ", ".join(cls.options) or "none"
        raise ValueError(f"recognition: head.{unknown[0]} is not an option of head {name} (its options: {known})")
    return cls.build(model, class_texts, freeze_classifier=freeze_classifier, seed=seed, templates=templates,
                     **dict(options or {}))


__all__ = ["HEADS", "RecognitionHead", "LinearHead", "TextInitHead", "ClassTextHead", "SimilarityHead",
           "ZeroShotHead", "actionclip_kl_loss", "actionclip_kl_on_texts", "build_head"]
