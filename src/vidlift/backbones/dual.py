"""What every dual encoder of this package shares: an image tower ``visual``, vidlift's text
tower ``text``, projections into the joint space and a learned logit scale (and bias).

:class:`DualEncoder` implements the parts of the
:class:`~vidlift.backbones.contract.VisionLanguageBackbone` contract that follow from that
layout alone — hook sites, the text capability, the joint space, parameters by role, LoRA
targets — from a few class-level tables that name each family's own modules (:class:`Layout`).
A family (CLIP / SigLIP in :mod:`.model`, EVA-CLIP in :mod:`.eva`) builds its towers and sets
its layout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from .config import PreprocessConfig
from .contract import LORA_KINDS, PARTS, TokenLayout, TowerBlock, VisionLanguageBackbone
from .layers import BLOCK_SITES
from .text import ClipTextEncoder, TextOutput
from .vision import VisionOutput

TOWERS = ("visual", "text")
_SITE = re.compile(r"^(visual|text)\.(embed|out|blocks\.(-?\d+)\.(\w+))$")


@dataclass(frozen=True)
class Layout:
    """Where a family keeps its parameters, per tower ("visual", "text"), as name prefixes.

    ``embed``: before the first block (BEiT's layer 0); ``head``: after the last block, the
    projection included; ``projection``: into the joint space; ``blocks``: the prefix of block
    ``i`` without the index; ``tables``: token / position tables (no weight decay); ``lora``:
    LoRA kind -> the Linear modules of a block it means.
    """

    embed: dict[str, tuple[str, ...]]
    head: dict[str, tuple[str, ...]]
    projection: dict[str, tuple[str, ...]]
    blocks: dict[str, str]
    tables: re.Pattern[str]
    lora: dict[str, dict[str, tuple[str, ...]]]


class DualEncoder(VisionLanguageBackbone):
    """Base of the package's dual encoders (module docstring). Subclasses set ``cfg``,
    ``visual``, ``text``, ``visual_proj`` (or ``None``), ``text_proj``, ``logit_scale`` and
    ``logit_bias`` (or ``None``) in ``__init__``, and the class attribute ``layout``."""

    layout: ClassVar[Layout]
    cfg: Any
    visual: nn.Module
    text: nn.Module
    visual_proj: nn.Module | None
    text_proj: nn.Module
    logit_scale: nn.Parameter
    logit_bias: nn.Parameter | None

    # -- identity ----------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return self.cfg.preprocess

    def new_like(self) -> DualEncoder:
        return type(self)(self.cfg)

    # -- image tower -------------------------------------------------------------------------
    @property
    def vision_depth(self) -> int:
        return len(self.visual.blocks)

    @property
    def vision_width(self) -> int:
        return self.cfg.vision.width

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim if self.visual_proj is not None else self.cfg.vision.width

    @property
    def token_layout(self) -> TokenLayout:
        v = self.cfg.vision
        return TokenLayout(self.visual.num_prefix_tokens, (v.grid_size, v.grid_size), v.width, v.patch_size,
                           class_token=getattr(self.visual, "class_embedding", None) is not None)

    def forward_video_features(self, video: torch.Tensor, layers: list[int] | str | None = None) -> VisionOutput:
        """video (B, T, C, H, W) -> :class:`VisionOutput` with the frame axis kept; pooled is
        (B, T, D) before projection, ``layers`` maps block index -> (B, T, N, D)."""
        if video.ndim != 5:
            raise ValueError(f"expected a video batch (B, T, C, H, W), got shape {tuple(video.shape)}")
        return self.visual(video, return_layers=layers)

    def project_image(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled image-tower output (..., width) -> joint space (..., E); identity without a
        projection (SigLIP)."""
        return pooled if self.visual_proj is None else self.visual_proj(pooled)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> (B, E)."""
        return self.project_image(self.visual(images).pooled)

    def final_norm(self, x: torch.Tensor, who: str) -> torch.Tensor:
        """The image tower's ``ln_post`` on x (..., D) (every family here has one: CLIP, SigLIP
        before its MAP head, EVA); a tower without it refuses as the contract does."""
        norm = getattr(self.visual, "ln_post", None)
        return norm(x) if isinstance(norm, nn.Module) else super().final_norm(x, who)

    # -- hook sites --------------------------------------------------------------------------
    def hook_sites(self) -> list[str]:
        out = []
        for name in TOWERS:
            out.append(f"{name}.embed")
            out += [f"{name}.blocks.{i}.{site}" for i in range(len(getattr(self, name).blocks)) for site in BLOCK_SITES]
            out.append(f"{name}.out")
        return out

    def add_hook(self, site: str, module: nn.Module) -> None:
        m = _SITE.match(site)
        if not m:
            raise KeyError(f"bad hook site {site!r}: expected (visual|text).(embed|out|blocks.<i>.<site>)")
        tower = getattr(self, m.group(1))
        if m.group(2) in ("embed", "out"):
            tower.hooks.add(m.group(2), module)
            return
        blocks = tower.blocks
        i = int(m.group(3))
        if not -len(blocks) <= i < len(blocks):
            raise KeyError(f"hook site {site!r}: block {i} does not exist in a {len(blocks)}-block {m.group(1)} tower")
        blocks[i].hooks.add(m.group(4), module)

    def vision_block(self, index: int) -> TowerBlock:
        return self.visual.blocks[index]

    # -- text --------------------------------------------------------------------------------
    @property
    def text_encoder(self) -> ClipTextEncoder:
        return ClipTextEncoder(self.text, self.text_proj)

    def encode_text(self, input_ids: torch.Tensor, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids (B, L) -> (B, E)."""
        return self.text_proj(self.text(input_ids, inputs_embeds=inputs_embeds).pooled)

    def forward_text_features(self, input_ids: torch.Tensor, layers: list[int] | str | None = None) -> TextOutput:
        """input_ids (B, L) -> :class:`TextOutput`: pooled (B, D) before projection, tokens
        (B, L, D), and the requested blocks' outputs (B, L, D)."""
        return self.text(input_ids, return_layers=layers)

    # -- joint space -------------------------------------------------------------------------
    @property
    def score_activation(self) -> Literal["softmax", "sigmoid"]:
        return "sigmoid" if self.cfg.loss == "siglip" else "softmax"

    def logit_scale_value(self) -> torch.Tensor:
        return self.logit_scale.exp()

    def scale_similarity(self, cosine: torch.Tensor) -> torch.Tensor:
        out = self.logit_scale.exp() * cosine
        return out if self.logit_bias is None else out + self.logit_bias

    def clamp_logit_scale(self, max_value: float) -> None:
        """Keep exp(logit_scale) ≤ ``max_value`` in place, as CLIP's training does (at 100)."""
        with torch.no_grad():
            self.logit_scale.clamp_(0, math.log(max_value))

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Image-text logits (B_img, B_txt); images may be clips, then frames are averaged."""
        emb = self.encode_video(images).mean(1) if images.ndim == 5 else self.encode_image(images)
        return self.logits(emb, self.encode_text(input_ids))

    # -- parameters by role ------------------------------------------------------------------
    def _own(self, tower: str) -> list[str]:
        return [n for n, _ in self.named_parameters()
                if n.startswith((f"{tower}.", f"{tower}_proj.")) and ".hooks." not in n and ".lora_" not in n]

    def parameter_names(self, tower: str, part: str, index: int | None = None) -> list[str]:
        if tower not in TOWERS:
            raise ValueError(f"unknown tower {tower!r} (visual, text)")
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}; parts: {', '.join(PARTS)}")
        lay = self.layout
        names = self._own(tower)
        if part in ("embed", "head", "projection"):
            prefixes = {"embed": lay.embed, "head": lay.head, "projection": lay.projection}[part][tower]
            return [n for n in names if n.startswith(prefixes)]
        if part == "block":
            depth = len(getattr(self, tower).blocks)
            if index is None or not -depth <= index < depth:
                raise IndexError(f"block {index} does not exist in a {depth}-block {tower} tower")
            return [n for n in names if n.startswith(f"{lay.blocks[tower]}{index % depth}.")]
        if part == "norm":
            norms = {f"{mod}.{p}" for mod, m in self.named_modules()
                     if isinstance(m, nn.LayerNorm) for p, _ in m.named_parameters(recurse=False)}
            return [n for n in names if n in norms]
        params = dict(self.named_parameters())
        return [n for n in names if n.rsplit(".", 1)[-1] == "bias" and params[n].ndim == 1]

    def layer_index(self, name: str) -> tuple[str, int] | None:
        lay = self.layout
        for tower in TOWERS:
            prefix = lay.blocks[tower]
            if name.startswith(prefix):
                return tower, int(name[len(prefix):].split(".", 1)[0]) + 1
            if name.startswith(lay.embed[tower]):
                return tower, 0
            if name.startswith(lay.head[tower]):
                return tower, len(getattr(self, tower).blocks) + 1
        return None

    def lora_targets(self, towers: Sequence[str], kinds: Sequence[str]) -> str:
        lay = self.layout
        unknown = [k for k in kinds if k not in LORA_KINDS]
        bad = [t for t in towers if t not in TOWERS]
        if unknown or bad or not kinds or not towers:
            raise ValueError(f"LoRA targets: kinds must be among {', '.join(LORA_KINDS)} and towers among "
                             f"visual, text; got kinds={list(kinds)}, towers={list(towers)}")
        missing = [(t, k) for t in towers for k in kinds if not lay.lora.get(t, {}).get(k)]
        if missing:
            raise ValueError(f"the {self.family} family has no Linear layers of kind "
                             f"{', '.join(f'{k} in {t}' for t, k in missing)}")
        per_tower = []
        for tower in towers:
            inner = "|".join(re.escape(m) for k in kinds for m in lay.lora[tower][k])
            per_tower.append(rf"{re.escape(lay.blocks[tower])}\d+\.({inner})")
        return "|".join(f"({p})" for p in per_tower)

    def is_table(self, name: str) -> bool:
        return bool(self.layout.tables.match(name))


__all__ = ["DualEncoder", "Layout", "TOWERS"]
