"""The transfer axis: a backbone plus declared strategies, as one trainable video-text model.

A :class:`Strategy` is one method of the survey's taxonomy (Li et al., "Image-to-Video
Transfer Learning based on Image-Language Foundation Models: A Comprehensive Survey", arXiv
2510.10671): 2 roots (frozen / adapted features), 9 families. It never freezes parameters by
hand. In :meth:`Strategy.apply` it *declares* through a :class:`TransferModel`:

- ``model.insert(site, module)`` — a module at a hook site of the backbone
  (``"visual.embed"``, ``"visual.blocks.3.attn_out"``, ``"text.embed"`` …; see
  :mod:`vidlift.backbones.layers`); its parameters train;
- ``model.add_head(name, module)`` — a new module outside the backbone; its parameters train;
- ``model.train_backbone(names)`` — existing backbone parameters that train;
- ``model.set_role(role, module)`` — the one module that fills an exclusive role of the
  forward pass (:data:`ROLES`).

After every strategy has applied, the model freezes everything that was not declared, so
"which parameters train" is exactly the union of the declarations (:meth:`TransferModel.
parameter_report`). The forward pass, with shapes::

    video (B, T, C, H, W) ─ image tower (+ inserted hooks) ─▶ VideoFeatures
        frames (B, T, E) · tokens (B, T, N, D) · layers {i: (B, T, N, D)}
    VideoFeatures ─ video_head (default: mean over T) ─▶ video embedding (B, E)
    class names ─ class_prompt (default: "a video of {}.") ─ text tower ─▶ (C, E)
    (video, text) ─ text_conditioner (optional) ─▶ logits (B, C)

A strategy whose backbone stays frozen can be trained from cached :class:`VideoFeatures`
(:meth:`TransferModel.encode_video_from_features`), which gives the same result as running
the backbone end to end.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import CLIP, Backbone, BackboneMeta

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

_SITE = re.compile(r"^(visual|text)\.(embed|out|blocks\.(-?\d+)\.(\w+))$")
# Parameters that are tokens or tables rather than weights: no weight decay (as CLIP, ViT, VPT).
_NO_DECAY = re.compile(r"(pos_embed|position|temporal_embed|time_embed|prompt|\.ctx$|query|class_embedding|"
                       r"token_embedding|probe)")


class TransferCompositionError(ValueError):
    """Strategies that cannot be combined, or a strategy that does not fit the backbone."""


@dataclass
class VideoFeatures:
    """What the (possibly adapted) image tower gives for a batch of clips.

    frames: (B, T, E) per-frame embeddings in the joint space; tokens: (B, T, N, D) final
    tokens after ``ln_post`` (``None`` when no strategy asked for them); layers: {block index:
    (B, T, N, D)} block outputs a strategy asked for; num_prefix_tokens: tokens before the
    patches (class token, prompts). ``teacher`` holds the frozen backbone's frames when a
    distillation student produced ``frames``.
    """

    frames: torch.Tensor
    tokens: torch.Tensor | None = None
    layers: dict[int, torch.Tensor] = field(default_factory=dict)
    num_prefix_tokens: int = 0
    teacher: torch.Tensor | None = None

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Flat name -> tensor dict (for the feature cache)."""
        out = {"frames": self.frames}
        if self.tokens is not None:
            out["tokens"] = self.tokens
        out.update({f"layers.{i}": t for i, t in self.layers.items()})
        if self.teacher is not None:
            out["teacher"] = self.teacher
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], num_prefix_tokens: int = 0) -> "VideoFeatures":
        layers = {int(k.split(".", 1)[1]): v for k, v in tensors.items() if k.startswith("layers.")}
        return cls(tensors["frames"], tensors.get("tokens"), dict(sorted(layers.items())), num_prefix_tokens,
                   tensors.get("teacher"))


@dataclass
class VideoOutput:
    """embedding: (B, E) clip embedding (not normalised); features: what it came from."""

    embedding: torch.Tensor
    features: VideoFeatures


class Strategy:
    """Base of every transfer strategy. Subclasses are dataclasses whose fields are the
    hyper-parameters (their defaults are the paper's), and set the class attributes below.

    ``trains_backbone`` says whether gradients must flow into the backbone (adapters, LoRA,
    prompts, partial and full tuning); ``needs_frozen_backbone`` that the method is only
    meaningful on an untouched backbone (side-tuning, distillation teachers).
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

    def apply(self, model: "TransferModel") -> None:
        raise NotImplementedError

    def needs_layers(self, depth: int) -> list[int]:
        """Block indices whose outputs the strategy reads (side networks)."""
        return []

    def lr_scale(self, name: str, model: "TransferModel") -> float | None:
        """Learning-rate multiplier for trainable parameter ``name``, or None for no opinion."""
        return None

    def merge(self, model: "TransferModel") -> bool:
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
    video head (CLIP4Clip's meanP; Luo et al., Neurocomputing 2022)."""

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        return features.frames.mean(1)


class TemplatePrompt(nn.Module):
    """Default class prompt: each class name in one template, through the text tower."""

    def __init__(self, template: str = "a video of {}.") -> None:
        super().__init__()
        self.template = template

    def forward(self, model: "TransferModel", class_names: Sequence[str]) -> torch.Tensor:
        ids = model.tokenize([self.template.format(c) for c in class_names])
        return model.backbone.encode_text(ids)


class TransferModel(nn.Module):
    """A backbone with transfer strategies applied: video and text embeddings, logits, a
    parameter report, and the declarations behind them.

    ``backbone`` is a :class:`~vidlift.backbones.Backbone` (model, preprocess, tokenizer,
    meta). ``num_frames`` is the T that temporal modules are built for.
    """

    def __init__(self, backbone: Backbone, strategies: Sequence[Strategy] = (), num_frames: int = 8) -> None:
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError("TransferModel needs a vidlift Backbone (from load_backbone), not a bare model")
        # Strategies change the backbone in place (hooks, LoRA wrappers, requires_grad), so one
        # backbone object serves one TransferModel: a second would silently share its modules.
        if getattr(backbone.model, "_vidlift_transfer_model", False):
            raise TransferCompositionError(
                "this backbone already belongs to a TransferModel (or to a build that failed); "
                "load a fresh one with load_backbone() for every model")
        backbone.model._vidlift_transfer_model = True
        self.backbone: CLIP = backbone.model
        self.preprocess = backbone.preprocess
        self.tokenizer = backbone.tokenizer
        self.meta: BackboneMeta = backbone.meta
        self.num_frames = num_frames
        self.strategies: list[Strategy] = list(strategies)
        self.heads = nn.ModuleDict()
        self.roles = nn.ModuleDict()
        self.insertions: list[Insertion] = []
        self._role_owner: dict[str, str] = {}
        self._declared_modules: list[tuple[str, nn.Module]] = []
        # id(parameter) -> (strategy, name at declaration): ids survive the renaming done by
        # wrappers that a later strategy injects (PEFT moves q_proj.weight to q_proj.base_layer.weight).
        self._declared_backbone: dict[int, tuple[str, str]] = {}
        self._current: Strategy | None = None
        self._check_composition()
        for s in self.strategies:
            self._current = s
            s.apply(self)
        self._current = None
        if "video_head" not in self.roles:
            self.roles["video_head"] = MeanPool()
        if "class_prompt" not in self.roles:
            self.roles["class_prompt"] = TemplatePrompt()
        self._layers = sorted({i for s in self.strategies for i in s.needs_layers(self.depth)})
        self._needs_tokens = any(s.needs_tokens for s in self.strategies)
        self._freeze_undeclared()

    # -- declarations (called by Strategy.apply) ---------------------------------------
    @property
    def depth(self) -> int:
        return len(self.backbone.visual.blocks)

    @property
    def width(self) -> int:
        return self.backbone.cfg.vision.width

    @property
    def embed_dim(self) -> int:
        return self.backbone.embed_dim

    def _owner(self) -> str:
        if self._current is None:
            raise RuntimeError("declarations are only allowed inside Strategy.apply")
        return self._current.name

    def insert(self, site: str, module: nn.Module, what: str | None = None) -> nn.Module:
        """Add ``module`` at hook ``site`` (``visual.embed``, ``visual.out``, ``text.embed``,
        ``visual.blocks.<i>.<block site>``; negative i counts from the end). Its parameters train."""
        m = _SITE.match(site)
        if not m:
            raise ValueError(f"bad hook site {site!r}: expected (visual|text).(embed|out|blocks.<i>.<site>)")
        tower = self.backbone.visual if m.group(1) == "visual" else self.backbone.text
        if m.group(2) in ("embed", "out"):
            tower.hooks.add(m.group(2), module)
        else:
            blocks = tower.blocks
            i = int(m.group(3))
            i = i + len(blocks) if i < 0 else i
            if not 0 <= i < len(blocks):
                raise TransferCompositionError(f"{self._owner()}: block {i} does not exist in a {len(blocks)}-block {m.group(1)} tower")
            blocks[i].hooks.add(m.group(4), module)
        self._declare(site, module, what)
        return module

    def add_head(self, name: str, module: nn.Module, what: str | None = None) -> nn.Module:
        """Register a new trainable module outside the backbone (``model.heads[name]``)."""
        if name in self.heads:
            raise TransferCompositionError(f"{self._owner()}: a head named {name!r} already exists")
        self.heads[name] = module
        self._declare(f"heads.{name}", module, what)
        return module

    def set_role(self, role: str, module: nn.Module, what: str | None = None) -> nn.Module:
        """Fill exclusive ``role`` (one of :data:`ROLES`) with ``module``; its parameters train."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        owner = self._owner()
        if role in self._role_owner:
            raise TransferCompositionError(
                f"{self._role_owner[role]} and {owner} both provide the {role.replace('_', ' ')}; "
                "combine at most one of them")
        self._role_owner[role] = owner
        self.roles[role] = module
        self._declare(f"roles.{role}", module, what)
        return module

    def train_backbone(self, names: Iterable[str], what: str = "backbone parameters") -> int:
        """Declare existing backbone parameters (names as in ``backbone.named_parameters()``)
        as trainable. Returns how many elements they hold."""
        owner = self._owner()
        params = dict(self.backbone.named_parameters())
        count = 0
        chosen = list(names)
        for n in chosen:
            if n not in params:
                raise KeyError(f"{owner}: the backbone has no parameter {n!r}")
            other = self._declared_backbone.get(id(params[n]), (owner, n))[0]
            if other != owner:
                raise TransferCompositionError(f"{other} and {owner} both train {n}; combine at most one of them")
            self._declared_backbone[id(params[n])] = (owner, n)
            count += params[n].numel()
        self.insertions.append(Insertion(owner, "backbone", f"{what} ({len(chosen)} tensors)", count))
        return count

    def _declare(self, where: str, module: nn.Module, what: str | None) -> None:
        n = sum(p.numel() for p in module.parameters())
        self._declared_modules.append((self._owner(), module))
        self.insertions.append(Insertion(self._owner(), where, what or type(module).__name__, n))

    def _check_composition(self) -> None:
        names = [s.name for s in self.strategies]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise TransferCompositionError(f"strategy {sorted(dup)[0]!r} is listed twice")
        for s in self.strategies:
            for other in self.strategies:
                if other is not s and (other.family in s.excludes or s.family in other.excludes):
                    raise TransferCompositionError(
                        f"{s.name} ({s.family}) cannot be combined with {other.name} ({other.family})")
        frozen_only = [s.name for s in self.strategies if s.needs_frozen_backbone]
        training = [s.name for s in self.strategies if s.trains_backbone]
        if frozen_only and training:
            raise TransferCompositionError(
                f"{frozen_only[0]} reads a frozen backbone (no gradient through it), so combining it with "
                f"{training[0]}, which trains inside the backbone, makes no sense")

    def _freeze_undeclared(self) -> None:
        declared = {id(p) for _, m in self._declared_modules for p in m.parameters()}
        declared |= set(self._declared_backbone)
        for p in self.parameters():
            p.requires_grad_(id(p) in declared)
        self._backbone_trains = any(p.requires_grad for p in self.backbone.parameters())

    # -- forward -------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        ids = self.tokenizer(list(texts))
        return ids.to(self.backbone.logit_scale.device)

    def video_features(self, video: torch.Tensor, teacher: torch.Tensor | None = None) -> VideoFeatures:
        """video (B, T, C, H, W) -> :class:`VideoFeatures` from the image tower, or from the
        distillation student (``teacher``: the frozen backbone's frames (B, T, E), e.g. from
        the feature cache; computed when needed and not given). The backbone runs without
        autograd when nothing in it trains."""
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
        return VideoFeatures(frames, out.tokens if self._needs_tokens else None, out.layers, out.num_prefix_tokens)

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
            raise ValueError(f"strategies {trained or [s.name for s in self.strategies]} need the backbone run on pixels; "
                             "cached features would give a different model")
        missing = [i for i in self._layers if f"layers.{i}" not in tensors]
        if missing:
            raise KeyError(f"the cached features lack block outputs {missing}; fill the cache with layers={self._layers}")
        feats = VideoFeatures.from_tensors(tensors, self.backbone.visual.num_prefix_tokens)
        feats.layers = {i: feats.layers[i] for i in self._layers}
        return feats

    def encode_video_from_features(self, features: VideoFeatures) -> VideoOutput:
        """Run the video head on (possibly cached) features -> :class:`VideoOutput`."""
        return VideoOutput(self.roles["video_head"](features), features)

    def encode_video(self, video: torch.Tensor, teacher: torch.Tensor | None = None) -> VideoOutput:
        """video (B, T, C, H, W) -> :class:`VideoOutput` (embedding (B, E))."""
        return self.encode_video_from_features(self.video_features(video, teacher))

    def encode_classes(self, class_names: Sequence[str]) -> torch.Tensor:
        """Class names -> text embeddings (C, E) through the class prompt."""
        return self.roles["class_prompt"](self, class_names)

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token ids (M, L) -> text embeddings (M, E) (captions, for retrieval)."""
        return self.backbone.encode_text(input_ids)

    def logits(self, video: VideoOutput, text: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarities of B videos and M texts (M, E) -> (B, M); a text
        conditioner (video-specific prompts) first adapts the texts to each video."""
        bb = self.backbone
        if "text_conditioner" in self.roles:
            text = self.roles["text_conditioner"](text, video.features)  # (B, M, E)
            v = F.normalize(video.embedding, dim=-1)
            out = bb.logit_scale.exp() * torch.einsum("be,bme->bm", v, F.normalize(text, dim=-1))
            return out if bb.logit_bias is None else out + bb.logit_bias
        return bb.logits(video.embedding, text)

    def auxiliary_losses(self, video: VideoOutput, text: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Losses a strategy adds to the task loss (distillation), by name. ``text`` (M, E): the
        class or caption embeddings of the batch, for losses on logits."""
        out: dict[str, torch.Tensor] = {}
        for module in self.modules():
            fn = getattr(module, "auxiliary_loss", None)
            if callable(fn) and module is not self:
                loss = fn(video.features, text=text)
                if loss is not None:
                    out[type(module).__name__] = loss
        return out

    # -- optimisation and reporting --------------------------------------------------------
    def trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((n, p) for n, p in self.named_parameters() if p.requires_grad)

    def param_groups(self, lr: float, weight_decay: float = 0.0) -> list[dict[str, Any]]:
        """AdamW-style groups: per-parameter learning rates from the strategies (layer-wise
        decay, a separate rate for new modules); no weight decay on gains, biases, and on tokens
        and tables (prompts, context vectors, queries, position embeddings)."""
        groups: dict[tuple[float, float], list[nn.Parameter]] = {}
        for name, p in self.trainable_parameters():
            scale = 1.0
            for s in self.strategies:
                opinion = s.lr_scale(name, self)
                if opinion is not None:
                    scale = opinion
            wd = weight_decay if p.ndim >= 2 and not _NO_DECAY.search(name) else 0.0
            groups.setdefault((lr * scale, wd), []).append(p)
        return [{"params": ps, "lr": g_lr, "weight_decay": wd} for (g_lr, wd), ps in groups.items()]

    def parameter_report(self) -> "ParameterReport":
        from .report import ParameterReport

        return ParameterReport.of(self)

    def extra_repr(self) -> str:
        return f"strategies={[s.name for s in self.strategies]}, num_frames={self.num_frames}"


__all__ = [
    "ROOTS", "FAMILIES", "ROLES", "Strategy", "TransferModel", "TransferCompositionError", "VideoFeatures",
    "VideoOutput", "Insertion", "MeanPool", "TemplatePrompt",
]
