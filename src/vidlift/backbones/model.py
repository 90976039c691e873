"""One CLIP-family model class for every provider's weights.

The model is the sum of an image tower (:mod:`.vision`), a text tower (:mod:`.text`),
linear projections into the joint space and a learned logit scale (plus a logit bias for
SigLIP). Extension points, used by every transfer paradigm instead of forking the model:

============================  =====================================================================
frame axis                    ``encode_video`` takes (B, T, C, H, W); blocks see ``ctx.num_frames``
hook points                   ``model.visual.blocks[i].hooks`` / ``model.text.blocks[i].hooks``,
                              sites ``block_in, attn_in, attn_out, mlp_in, mlp_out, block_out``
                              (see :mod:`vidlift.backbones.layers`); tower sites ``embed`` / ``out``
every layer's tokens          ``forward_video_features(video, layers=[...])`` -> (B, T, N, D) each
prepended visual tokens       a module at ``model.visual.hooks`` site ``embed``
replaceable text embeddings   ``encode_text(ids, inputs_embeds=...)`` or ``model.text.hooks`` ``embed``
============================  =====================================================================
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import CLIPConfig, PreprocessConfig
from .contract import LORA_KINDS, PARTS, TokenLayout, VisionLanguageBackbone
from .layers import BLOCK_SITES, init_weights
from .text import ClipTextEncoder, TextOutput, TextTransformer
from .vision import VisionOutput, VisionTransformer

_SITE = re.compile(r"^(visual|text)\.(embed|out|blocks\.(-?\d+)\.(\w+))$")
# Parameters before the first block (BEiT's layer 0) and after the last one, per tower.
_EMBED = {"visual": ("visual.patch_embed.", "visual.pos_embed", "visual.class_embedding", "visual.ln_pre."),
          "text": ("text.token_embedding.", "text.pos_embed")}
_HEAD = {"visual": ("visual.ln_post.", "visual.attn_pool.", "visual_proj."), "text": ("text.ln_final.", "text_proj.")}
_PROJ = {"visual": ("visual_proj.",), "text": ("text_proj.",)}
_BLOCK = re.compile(r"^(visual|text)\.transformer\.blocks\.(\d+)\.")
_TABLES = re.compile(r"^(visual\.(pos_embed|class_embedding|attn_pool\.probe)|text\.(pos_embed|token_embedding\.weight))$")
_LORA = {"attn_q": "attn.q_proj", "attn_k": "attn.k_proj", "attn_v": "attn.v_proj", "attn_out": "attn.out_proj",
         "mlp_in": "mlp.fc1", "mlp_out": "mlp.fc2"}


class CLIP(VisionLanguageBackbone):
    """CLIP (Radford et al., ICML 2021) and SigLIP (Zhai et al., ICCV 2023) in one class.

    Image / text embeddings are returned un-normalised; ``logits`` normalises them. Code
    outside :mod:`vidlift.backbones` uses it through the
    :class:`~vidlift.backbones.contract.VisionLanguageBackbone` contract only.
    """

    def __init__(self, cfg: CLIPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.visual = VisionTransformer(cfg.vision)
        self.text = TextTransformer(cfg.text)
        self.visual_proj = (
            nn.Linear(cfg.vision.width, cfg.embed_dim, bias=cfg.vision.proj_bias) if cfg.vision_proj else None
        )
        self.text_proj = nn.Linear(cfg.text.width, cfg.embed_dim, bias=cfg.text.proj_bias)
        for proj in (self.visual_proj, self.text_proj):
            if proj is not None:
                nn.init.normal_(proj.weight, std=proj.in_features**-0.5)
        self.logit_scale = nn.Parameter(torch.tensor(float(cfg.logit_scale_init)))
        self.logit_bias = (
            nn.Parameter(torch.tensor(float(cfg.logit_bias_init))) if cfg.logit_bias_init is not None else None
        )

    @property
    def family(self) -> str:  # type: ignore[override]
        return "siglip" if self.cfg.loss == "siglip" else "clip"

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim if self.visual_proj is not None else self.cfg.vision.width

    # -- contract: identity ----------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return self.cfg.preprocess

    def new_like(self) -> CLIP:
        return CLIP(self.cfg)

    # -- contract: image tower ---------------------------------------------------------------
    @property
    def vision_depth(self) -> int:
        return len(self.visual.blocks)

    @property
    def vision_width(self) -> int:
        return self.cfg.vision.width

    @property
    def token_layout(self) -> TokenLayout:
        v = self.cfg.vision
        return TokenLayout(self.visual.num_prefix_tokens, (v.grid_size, v.grid_size), v.width, v.patch_size)

    # -- contract: hook sites ----------------------------------------------------------------
    def hook_sites(self) -> list[str]:
        out = []
        for tower, name in ((self.visual, "visual"), (self.text, "text")):
            out.append(f"{name}.embed")
            out += [f"{name}.blocks.{i}.{site}" for i in range(len(tower.blocks)) for site in BLOCK_SITES]
            out.append(f"{name}.out")
        return out

    def add_hook(self, site: str, module: nn.Module) -> None:
        m = _SITE.match(site)
        if not m:
            raise KeyError(f"bad hook site {site!r}: expected (visual|text).(embed|out|blocks.<i>.<site>)")
        tower = self.visual if m.group(1) == "visual" else self.text
        if m.group(2) in ("embed", "out"):
            tower.hooks.add(m.group(2), module)
            return
        blocks = tower.blocks
        i = int(m.group(3))
        if not -len(blocks) <= i < len(blocks):
            raise KeyError(f"hook site {site!r}: block {i} does not exist in a {len(blocks)}-block {m.group(1)} tower")
        blocks[i].hooks.add(m.group(4), module)

    def vision_block(self, index: int) -> nn.Module:
        return self.visual.blocks[index]

    # -- contract: text and joint space ------------------------------------------------------
    @property
    def text_encoder(self) -> ClipTextEncoder:
        return ClipTextEncoder(self.text, self.text_proj)

    @property
    def score_activation(self) -> str:  # type: ignore[override]
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

    # -- contract: parameters by role --------------------------------------------------------
    def _own(self, tower: str) -> list[str]:
        return [n for n, _ in self.named_parameters()
                if n.startswith((f"{tower}.", f"{tower}_proj.")) and ".hooks." not in n and ".lora_" not in n]

    def parameter_names(self, tower: str, part: str, index: int | None = None) -> list[str]:
        if tower not in ("visual", "text"):
            raise ValueError(f"unknown tower {tower!r} (visual, text)")
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}; parts: {', '.join(PARTS)}")
        names = self._own(tower)
        if part == "embed":
            return [n for n in names if n.startswith(_EMBED[tower])]
        if part == "head":
            return [n for n in names if n.startswith(_HEAD[tower])]
        if part == "projection":
            return [n for n in names if n.startswith(_PROJ[tower])]
        if part == "block":
            depth = len(getattr(self, tower).blocks)
            if index is None or not -depth <= index < depth:
                raise IndexError(f"block {index} does not exist in a {depth}-block {tower} tower")
            prefix = f"{tower}.transformer.blocks.{index % depth}."
            return [n for n in names if n.startswith(prefix)]
        if part == "norm":
            norms = {f"{mod}.{p}" for mod, m in self.named_modules()
                     if isinstance(m, nn.LayerNorm) for p, _ in m.named_parameters(recurse=False)}
            return [n for n in names if n in norms]
        params = dict(self.named_parameters())
        return [n for n in names if n.rsplit(".", 1)[-1] == "bias" and params[n].ndim == 1]

    def layer_index(self, name: str) -> tuple[str, int] | None:
        m = _BLOCK.match(name)
        if m:
            return m.group(1), int(m.group(2)) + 1
        for tower in ("visual", "text"):
            if name.startswith(_EMBED[tower]):
                return tower, 0
            if name.startswith(_HEAD[tower]):
                return tower, len(getattr(self, tower).blocks) + 1
        return None

    def lora_targets(self, towers: Sequence[str], kinds: Sequence[str]) -> str:
        unknown = [k for k in kinds if k not in _LORA]
        bad = [t for t in towers if t not in ("visual", "text")]
        if unknown or bad or not kinds or not towers:
            raise ValueError(f"LoRA targets: kinds must be among {', '.join(LORA_KINDS)} and towers among "
                             f"visual, text; got kinds={list(kinds)}, towers={list(towers)}")
        inner = "|".join(re.escape(_LORA[k]) for k in kinds)
        return rf"({'|'.join(towers)})\.transformer\.blocks\.\d+\.({inner})"

    def is_table(self, name: str) -> bool:
        return bool(_TABLES.match(name))

    # -- image tower -------------------------------------------------------------------
    def project_image(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled image-tower output (..., width) -> joint space (..., E); identity for SigLIP."""
        return pooled if self.visual_proj is None else self.visual_proj(pooled)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> (B, E)."""
        return self.project_image(self.visual(images).pooled)

    def image_tower_like(self, width: int, layers: int, heads: int, who: str) -> VisionTransformer:
        """This tower's config (patch size, resolution, class token or MAP head, activation,
        norms) at ``width`` / ``layers`` / ``heads``, small-normal initialised."""
        tower = VisionTransformer(dataclasses.replace(self.cfg.vision, width=width, layers=layers, heads=heads))
        init_weights(tower.transformer)
        return tower

    def forward_video_features(
        self, video: torch.Tensor, layers: list[int] | str | None = None
    ) -> VisionOutput:
        """video (B, T, C, H, W) -> :class:`VisionOutput` with the frame axis kept; pooled is
        (B, T, D) before projection, ``layers`` maps block index -> (B, T, N, D)."""
        if video.ndim != 5:
            raise ValueError(f"expected a video batch (B, T, C, H, W), got shape {tuple(video.shape)}")
        return self.visual(video, return_layers=layers)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, T, C, H, W) -> per-frame embeddings (B, T, E)."""
        return self.project_image(self.forward_video_features(video).pooled)

    # -- text tower --------------------------------------------------------------------
    def encode_text(self, input_ids: torch.Tensor, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids (B, L) -> (B, E)."""
        return self.text_proj(self.text(input_ids, inputs_embeds=inputs_embeds).pooled)

    def forward_text_features(self, input_ids: torch.Tensor, layers: list[int] | str | None = None) -> TextOutput:
        """input_ids (B, L) -> :class:`TextOutput`: pooled (B, D) before projection, tokens
        (B, L, D), and the requested blocks' outputs (B, L, D)."""
        return self.text(input_ids, return_layers=layers)

    # -- joint space -------------------------------------------------------------------
    def logits(self, visual_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarities (…, E) × (M, E) -> (…, M) (+ bias for SigLIP)."""
        v = F.normalize(visual_emb, dim=-1)
        t = F.normalize(text_emb, dim=-1)
        out = self.logit_scale.exp() * v @ t.t()
        return out if self.logit_bias is None else out + self.logit_bias

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Image-text logits (B_img, B_txt); images may be clips, then frames are averaged."""
        emb = self.encode_video(images).mean(1) if images.ndim == 5 else self.encode_image(images)
        return self.logits(emb, self.encode_text(input_ids))

    def set_grad_checkpointing(self, enable: bool = True) -> None:  # contract: runtime
        self.visual.transformer.grad_checkpointing = enable
        self.text.transformer.grad_checkpointing = enable


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = ["CLIP", "count_parameters"]
