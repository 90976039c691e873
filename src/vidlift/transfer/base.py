"""The vocabulary of the transfer axis: strategies, the features they exchange, and the roles
of the forward pass. The model that applies them lives in :mod:`.declarations` (what the
strategies declared) and :mod:`.model` (the forward pass); imports point that way only.

A :class:`Strategy` is one method of the survey's taxonomy (Li et al., "Image-to-Video
Transfer Learning based on Image-Language Foundation Models: A Comprehensive Survey", arXiv
2510.10671): 2 roots (frozen / adapted features), 9 families. It never freezes parameters by
hand. In :meth:`Strategy.apply` it *declares* through a :class:`~vidlift.transfer.TransferModel`:

- ``model.insert(site, module)`` — a module at a hook site of the backbone
  (``"visual.embed"``, ``"visual.blocks.3.attn_out"``, ``"text.embed"`` …; the sites of
  :meth:`~vidlift.backbones.contract.VisionLanguageBackbone.hook_sites`); its parameters train;
- ``model.add_head(name, module)`` — a new module outside the backbone; its parameters train;
- ``model.train_backbone(names)`` — existing backbone parameters that train (names the backbone
  gives by role: ``backbone.parameter_names(tower, part)``);
- ``model.set_role(role, module)`` — the one module that fills an exclusive role of the
  forward pass (:data:`ROLES`).

A strategy reads the backbone only through the contract
(:class:`~vidlift.backbones.contract.VisionLanguageBackbone`): sizes, the token layout, hook
sites, a block's own attention (:class:`~vidlift.backbones.contract.TowerBlock`), the text
encoder as a capability. Where a backbone lacks what a strategy needs, building the model
fails with :class:`~vidlift.backbones.contract.BackboneCapabilityError` (or a
:class:`TransferCompositionError`) naming the strategy and the backbone family.

After every strategy has applied, the model freezes everything that was not declared, so
"which parameters train" is exactly the union of the declarations (``TransferModel.
parameter_report``). The forward pass, with shapes::

    video (B, T, C, H, W) ─ image tower (+ inserted hooks) ─▶ VideoFeatures
        frames (B, T, E) · tokens (B, T, N, D) · layers {i: (B, T, N, D)}
    VideoFeatures ─ video_head (default: mean over T) ─▶ video embedding (B, E)
    class names ─ class_prompt (default: "a video of {}.") ─ text tower ─▶ (C, E)
    (video, text) ─ text_conditioner (optional) ─▶ logits (B, C)

A strategy whose backbone stays frozen can be trained from cached :class:`VideoFeatures`
(``TransferModel.encode_video_from_features``), which gives the same result as running the
backbone end to end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from .model import TransferModel

ROOTS = ("frozen", "adapted")
FAMILIES = {
    "knowledge distillation": "frozen",
    "post-network tuning": "frozen",
    "side-tuning": "frozen",
    "full fine-tuning": "adapted",
    "partial tuning": "adapted",
    "fine-tuning with extra models": "adapted",
    "adapter": "adapted",
    "lora": "adapted",
    "prompt tuning": "adapted",
}
# Exclusive roles in the forward pass; two strategies may not fill the same one.
ROLES = (
    "video_head",  # VideoFeatures -> (B, E)
    "frame_encoder",  # video (B, T, C, H, W) -> frames (B, T, E), replacing the image tower at inference
    "class_prompt",  # class names -> text embeddings (C, E)
    "text_conditioner",  # (text (C, E), VideoFeatures) -> per-video text (B, C, E)
)


class TransferCompositionError(ValueError):
    """Strategies that cannot be combined, or a strategy that does not fit the backbone."""


@dataclass
class VideoFeatures:
    """What the (possibly adapted) image tower gives for a batch of clips.

    frames: (B, T, E) per-frame embeddings in the joint space; tokens: (B, T, N, D) final
    tokens after ``ln_post`` (``None`` when no strategy asked for them); layers: {block index:
    (B, T, N, D)} block outputs a strategy asked for; num_prefix_tokens: tokens before the
    patches (class token, prompts). ``teacher`` holds the frozen backbone's frames when a
    tower_compression student produced ``frames``. ``pooled``: (B, T, D) the image tower's pooled
    frame features before the projection into the joint space (``frames`` is their
    projection), or ``None`` where the frames did not come from the tower (a student encoder,
    an old cache).
    """

    frames: torch.Tensor
    tokens: torch.Tensor | None = None
    layers: dict[int, torch.Tensor] = field(default_factory=dict)
    num_prefix_tokens: int = 0
    teacher: torch.Tensor | None = None
    pooled: torch.Tensor | None = None

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Flat name -> tensor dict (for the feature cache)."""
        out = {"frames": self.frames}
        if self.tokens is not None:
            out["tokens"] = self.tokens
        out.update({f"layers.{i}": t for i, t in self.layers.items()})
        if self.teacher is not None:
            out["teacher"] = self.teacher
        if self.pooled is not None:
            out["pooled"] = self.pooled
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], num_prefix_tokens: int = 0) -> VideoFeatures:
        layers = {int(k.split(".", 1)[1]): v for k, v in tensors.items() if k.startswith("layers.")}
        return cls(tensors["frames"], tensors.get("tokens"), dict(sorted(layers.items())), num_prefix_tokens,
                   tensors.get("teacher"), tensors.get("pooled"))


@dataclass
class VideoOutput:
    """embedding: (B, E) clip embedding (not normalised); features: what it came from;
    pre_projection: (B, D) the clip feature before the projection into the joint space, where
    the video head has one (:class:`MeanPool`: the mean of ``features.pooled``; see
    :meth:`~vidlift.transfer.TransferModel.encode_video_from_features`), else ``None``. The
    classifiers of AIM, ST-Adapter and EVL read it (a pre-projection recognition head)."""

    embedding: torch.Tensor
    features: VideoFeatures
    pre_projection: torch.Tensor | None = None


class Strategy:
    """Base of every transfer strategy. Subclasses are dataclasses whose fields are the
    hyper-parameters (their defaults are the paper's), and set the class attributes below.

    ``trains_backbone`` says whether gradients must flow into the backbone (adapters, LoRA,
    prompts, partial and full tuning); ``needs_frozen_backbone`` that the method is only
    meaningful on an untouched backbone (side-tuning, tower compression's teacher tower).
    """

    name: ClassVar[str]
    family: ClassVar[str]
    paper: ClassVar[str]
    trains_backbone: ClassVar[bool] = False
    needs_frozen_backbone: ClassVar[bool] = False
    needs_tokens: ClassVar[bool] = False  # VideoFeatures.tokens required
    excludes: ClassVar[tuple[str, ...]] = ()  # families this strategy cannot be combined with

    @property
    def root(self) -> str:
        return FAMILIES[self.family]

    def apply(self, model: TransferModel) -> None:
        raise NotImplementedError

    def needs_layers(self, depth: int) -> list[int]:
        """Block indices whose outputs the strategy reads (side networks)."""
        return []

    def lr_scale(self, name: str, model: TransferModel) -> float | None:
        """Learning-rate multiplier for trainable parameter ``name``, or None for no opinion."""
        return None

    def merge(self, model: TransferModel) -> bool:
        """Fold the strategy into the backbone weights for inference (LoRA); True if it did."""
        return False

    def hyperparameters(self) -> dict[str, Any]:
        return dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


@dataclass
class Insertion:
    """One declared change: which strategy put what where, and how many parameters it trains."""

    strategy: str
    where: str
    what: str
    parameters: int


class MeanPool(nn.Module):
    """Average of the per-frame embeddings: (B, T, E) -> (B, E). The parameter-free default
    video head (CLIP4Clip's meanP; Luo et al., Neurocomputing 2022).

    A video head may also define ``encode(features) -> (embedding (B, E), pre_projection
    (B, D) or None)``; the model calls it instead of ``forward`` when it exists. Here the
    pre-projection feature is the mean of the pooled frame features (AIM's and mmaction2's
    I3DHead average over time before their classifier)."""

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        return features.frames.mean(1)

    def encode(self, features: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self(features), None if features.pooled is None else features.pooled.mean(1)


class TemplatePrompt(nn.Module):
    """Default class prompt: each class name in one template, through the text encoder
    (class names (C,) -> (C, E))."""

    def __init__(self, template: str = "a video of {}.") -> None:
        super().__init__()
        self.template = template

    def forward(self, model: TransferModel, class_names: Sequence[str]) -> torch.Tensor:
        return model.encode_text(model.tokenize([self.template.format(c) for c in class_names]))


__all__ = [
    "ROOTS", "FAMILIES", "ROLES", "Strategy", "TransferCompositionError", "VideoFeatures", "VideoOutput", "Insertion",
    "MeanPool", "TemplatePrompt",
]
