"""The forward half of a :class:`TransferModel`: video features, embeddings, logits, the feature
cache and auxiliary losses, on top of what the strategies declared (:mod:`.declarations`).

Shapes (B clips of T frames, E the joint space, D the image tower's width)::

    video (B, T, C, H, W) ─ image tower (+ inserted hooks) or frame encoder ─▶ VideoFeatures
    VideoFeatures ─ video_head ─▶ VideoOutput.embedding (B, E)
    class names ─ class_prompt ─▶ (C, E);  token ids (M, L) ─ text encoder ─▶ (M, E)
    (VideoOutput, texts) ─ text_conditioner (optional) ─ backbone.scale_similarity ─▶ logits (B, M)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..backbones import Backbone
from .base import Strategy, VideoFeatures, VideoOutput
from .declarations import TransferDeclarations


class TransferModel(TransferDeclarations):
    """A backbone with transfer strategies applied: video and text embeddings, logits, a
    parameter report, and the declarations behind them.

    ``backbone`` is a :class:`~vidlift.backbones.Backbone` (model, preprocess, tokenizer,
    meta) whose model is any :class:`~vidlift.backbones.contract.VisionLanguageBackbone`;
    ``num_frames`` is the T that temporal modules are built for. The model uses the backbone
    through the contract only, so every family that implements it works; a strategy that needs
    a capability the family lacks refuses at construction, naming itself and the family.
    """

    def __init__(self, backbone: Backbone, strategies: Sequence[Strategy] = (), num_frames: int = 8) -> None:
        super().__init__(backbone, strategies, num_frames)
        self._layers = sorted({i for s in self.strategies for i in s.needs_layers(self.depth)})
        self._needs_tokens = any(s.needs_tokens for s in self.strategies)

    # -- video -----------------------------------------------------------------------------
    def video_features(self, video: torch.Tensor, teacher: torch.Tensor | None = None) -> VideoFeatures:
        """video (B, T, C, H, W) -> :class:`VideoFeatures` from the image tower, or from a
        frame encoder that replaces it (tower_compression's student; ``teacher``: the frozen
        backbone's frames (B, T, E), e.g. from the feature cache; computed when needed and not
        given). The backbone runs without autograd when nothing in it trains. (The
        ``distillation`` strategy's teacher runs on the pixels the task passes to
        :meth:`auxiliary_losses`, not here.)"""
        if video.ndim != 5:
            raise ValueError(f"expected a video batch (B, T, C, H, W), got shape {tuple(video.shape)}")
        if "frame_encoder" in self.roles:
            return self.roles["frame_encoder"](self, video, teacher)
        return self.backbone_features(video)

    def backbone_features(self, video: torch.Tensor) -> VideoFeatures:
        """The backbone's own :class:`VideoFeatures` (what the feature cache stores)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self._backbone_trains):
            out = self.backbone.forward_video_features(video, layers=self._layers)
            frames = self.backbone.project_image(out.pooled)
        return VideoFeatures(frames, out.tokens if self._needs_tokens else None, out.layers, out.num_prefix_tokens,
                             pooled=out.pooled)

    @property
    def cache_layers(self) -> list[int]:
        """Block outputs the strategies read: what a feature cache for this model must hold."""
        return list(self._layers)

    @property
    def trains_from_cache(self) -> bool:
        """Whether training can read cached backbone features (nothing in the backbone trains,
        and no strategy needs pixels or final tokens)."""
        return not self._backbone_trains and "frame_encoder" not in self.roles and not self._needs_tokens

    def features_from_cache(self, tensors: dict[str, torch.Tensor]) -> VideoFeatures:
        """Cached tensors ({"frames": (B, T, E), "layers.<i>": (B, T, N, D)}) -> VideoFeatures."""
        if not self.trains_from_cache:
            trained = [s.name for s in self.strategies if s.trains_backbone or s.needs_tokens]
            raise ValueError(f"strategies {trained or [s.name for s in self.strategies]} "
                             "need the backbone run on pixels; cached features would give a different model")
        missing = [i for i in self._layers if f"layers.{i}" not in tensors]
        if missing:
            raise KeyError(f"the cached features lack block outputs {missing}; "
                           f"fill the cache with layers={self._layers}")
        feats = VideoFeatures.from_tensors(tensors, self.backbone.token_layout.num_prefix_tokens)
        feats.layers = {i: feats.layers[i] for i in self._layers}
        return feats

    def encode_video_from_features(self, features: VideoFeatures) -> VideoOutput:
        """Run the video head on (possibly cached) features -> :class:`VideoOutput`; a head
        with an ``encode(features) -> (embedding, pre_projection)`` method also gives the
        pre-projection clip feature (:class:`~vidlift.transfer.base.MeanPool`)."""
        head = self.roles["video_head"]
        encode = getattr(head, "encode", None)
        if callable(encode):
            embedding, pre = encode(features)
            return VideoOutput(embedding, features, pre)
        return VideoOutput(head(features), features)

    def encode_video(self, video: torch.Tensor, teacher: torch.Tensor | None = None) -> VideoOutput:
        """video (B, T, C, H, W) -> :class:`VideoOutput` (embedding (B, E))."""
        return self.encode_video_from_features(self.video_features(video, teacher))

    # -- text --------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts -> token ids (M, L) on the backbone's device."""
        return self.tokenizer(list(texts)).to(self.backbone.device)

    def encode_classes(self, class_names: Sequence[str]) -> torch.Tensor:
        """Class names -> text embeddings (C, E) through the class prompt."""
        return self.roles["class_prompt"](self, class_names)

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token ids (M, L) -> text embeddings (M, E) (captions, for retrieval)."""
        return self.backbone.require_text("text encoding").encode(input_ids)

    # -- joint space ---------------------------------------------------------------------------
    def logits(self, video: VideoOutput, text: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarities of B videos and M texts (M, E) -> (B, M) (the backbone's
        scale, and bias where its family has one); a text conditioner (video-specific prompts)
        first adapts the texts to each video."""
        if "text_conditioner" in self.roles:
            text = self.roles["text_conditioner"](text, video.features)  # (B, M, E)
            v = F.normalize(video.embedding, dim=-1)
            return self.backbone.scale_similarity(torch.einsum("be,bme->bm", v, F.normalize(text, dim=-1)))
        return self.backbone.logits(video.embedding, text)

    def auxiliary_losses(self, video: VideoOutput, text: torch.Tensor | None = None,
                         **context) -> dict[str, torch.Tensor]:
        """Losses a strategy adds to the task loss (distillation), by name. ``text`` (M, E): the
        class or caption embeddings of the batch, for losses on logits. ``context``: what else
        the task knows of the step (e.g. ``logits``, the texts behind ``text``), passed on as
        keyword arguments to every module's ``auxiliary_loss(features, text=..., **context)``."""
        out: dict[str, torch.Tensor] = {}
        for module in self.modules():
            fn = getattr(module, "auxiliary_loss", None)
            if callable(fn) and module is not self:
                loss = fn(video.features, text=text, **context)
                if loss is not None:
                    out[type(module).__name__] = loss
        return out


__all__ = ["TransferModel"]
