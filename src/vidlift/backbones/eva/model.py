"""EVA-CLIP (EVA02-CLIP) behind the backbone contract.

The model is an EVA02 image tower (:mod:`.vision`), vidlift's CLIP text tower
(:class:`~vidlift.backbones.text.TextTransformer`, which is what open_clip's EVA02-CLIP
configs use), linear projections into the joint space (the image one with a bias: it is
timm's classifier head) and a learned logit scale. Parameter names::

    visual.patch_embed.{weight,bias}  visual.class_embedding  visual.pos_embed  visual.ln_post.*
    visual.blocks.<i>.ln_1 / ln_2 / attn.{q_proj,k_proj,v_proj,sub_norm,out_proj} / mlp.{fc1_g,fc1_x,sub_norm,fc2}
    visual_proj.{weight,bias}   text.* (as in CLIP)   text_proj.weight   logit_scale

What the contract's strategies get (see :class:`~vidlift.backbones.eva.vision.EvaBlock`):
every hook site, every layer's tokens, prepended tokens, text prompts, AIM's attention along
time and divided space-time's attention copy (exact: RoPE cancels along time), EVL's queries
and keys (with RoPE), partial tuning by role, LoRA on q / k / v / out and on the SwiGLU's
two input projections and its output projection.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from ..config import PreprocessConfig
from ..contract import LORA_KINDS, PARTS, BackboneCapabilityError, TokenLayout, VisionLanguageBackbone
from ..layers import BLOCK_SITES, init_weights
from ..text import ClipTextEncoder, TextOutput, TextTransformer
from ..vision import VisionOutput
from .config import EvaClipConfig
from .vision import EvaBlock, EvaVisionTransformer

_SITE = re.compile(r"^(visual|text)\.(embed|out|blocks\.(-?\d+)\.(\w+))$")
_EMBED = {"visual": ("visual.patch_embed.", "visual.pos_embed", "visual.class_embedding"),
          "text": ("text.token_embedding.", "text.pos_embed")}
_HEAD = {"visual": ("visual.ln_post.", "visual_proj."), "text": ("text.ln_final.", "text_proj.")}
_PROJ = {"visual": ("visual_proj.",), "text": ("text_proj.",)}
_BLOCKS = {"visual": "visual.blocks.", "text": "text.transformer.blocks."}
_BLOCK = re.compile(r"^(visual\.blocks|text\.transformer\.blocks)\.(\d+)\.")
_TABLES = re.compile(r"^(visual\.(pos_embed|class_embedding)|text\.(pos_embed|token_embedding\.weight))$")
# Linear modules per LoRA kind, per tower: the SwiGLU has two input projections (gate, value).
_LORA = {
    "visual": {"attn_q": ("attn.q_proj",), "attn_k": ("attn.k_proj",), "attn_v": ("attn.v_proj",),
               "attn_out": ("attn.out_proj",), "mlp_in": ("mlp.fc1_g", "mlp.fc1_x"), "mlp_out": ("mlp.fc2",)},
    "text": {"attn_q": ("attn.q_proj",), "attn_k": ("attn.k_proj",), "attn_v": ("attn.v_proj",),
             "attn_out": ("attn.out_proj",), "mlp_in": ("mlp.fc1",), "mlp_out": ("mlp.fc2",)},
}


class EvaClip(VisionLanguageBackbone):
    """EVA02-CLIP (Sun et al., "EVA-CLIP: Improved Training Techniques for CLIP at Scale", 2023).

    Image / text embeddings are returned un-normalised; ``logits`` normalises them.
    """

    family: ClassVar[str] = "eva-clip"

    def __init__(self, cfg: EvaClipConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.visual = EvaVisionTransformer(cfg.vision)
        self.text = TextTransformer(cfg.text)
        self.visual_proj = nn.Linear(cfg.vision.width, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.text.width, cfg.embed_dim, bias=False)
        for proj in (self.visual_proj, self.text_proj):
            nn.init.normal_(proj.weight, std=proj.in_features**-0.5)
        nn.init.zeros_(self.visual_proj.bias)
        self.logit_scale = nn.Parameter(torch.tensor(float(cfg.logit_scale_init)))

    # -- identity --------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return self.cfg.preprocess

    def new_like(self) -> EvaClip:
        return EvaClip(self.cfg)

    # -- image tower -----------------------------------------------------------------------
    @property
    def vision_depth(self) -> int:
        return len(self.visual.blocks)

    @property
    def vision_width(self) -> int:
        return self.cfg.vision.width

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    @property
    def token_layout(self) -> TokenLayout:
        v = self.cfg.vision
        return TokenLayout(self.visual.num_prefix_tokens, (v.grid_size, v.grid_size), v.width, v.patch_size)

    def forward_video_features(self, video: torch.Tensor, layers: list[int] | str | None = None) -> VisionOutput:
        """video (B, T, C, H, W) -> pooled (B, T, D) before projection, tokens (B, T, N, D),
        ``layers`` {block index: (B, T, N, D)}."""
        if video.ndim != 5:
            raise ValueError(f"expected a video batch (B, T, C, H, W), got shape {tuple(video.shape)}")
        return self.visual(video, return_layers=layers)

    def project_image(self, pooled: torch.Tensor) -> torch.Tensor:
        """(..., width) -> (..., E)."""
        return self.visual_proj(pooled)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> (B, E)."""
        return self.project_image(self.visual(images).pooled)

    def image_tower_like(self, width: int, layers: int, heads: int, who: str) -> EvaVisionTransformer:
        """An EVA02 tower of this design (patch size, resolution, RoPE grid, SwiGLU ratio) at
        ``width`` / ``layers`` / ``heads``, small-normal initialised; the head width must be
        divisible by 4 (2-D RoPE)."""
        if width % heads or (width // heads) % 4:
            raise BackboneCapabilityError(who, self.family, f"an image tower of width {width} with {heads} heads",
                                          "EVA's 2-D RoPE needs a head width divisible by 4")
        tower = EvaVisionTransformer(dataclasses.replace(self.cfg.vision, width=width, layers=layers, heads=heads))
        init_weights(tower)
        return tower

    # -- hook sites ------------------------------------------------------------------------
    def hook_sites(self) -> list[str]:
        out = []
        for name, blocks in (("visual", self.visual.blocks), ("text", self.text.blocks)):
            out.append(f"{name}.embed")
            out += [f"{name}.blocks.{i}.{site}" for i in range(len(blocks)) for site in BLOCK_SITES]
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

    def vision_block(self, index: int) -> EvaBlock:
        return self.visual.blocks[index]

    # -- text ------------------------------------------------------------------------------
    @property
    def text_encoder(self) -> ClipTextEncoder:
        return ClipTextEncoder(self.text, self.text_proj)

    def encode_text(self, input_ids: torch.Tensor, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids (B, L) -> (B, E)."""
        return self.text_proj(self.text(input_ids, inputs_embeds=inputs_embeds).pooled)

    def forward_text_features(self, input_ids: torch.Tensor, layers: list[int] | str | None = None) -> TextOutput:
        return self.text(input_ids, return_layers=layers)

    # -- joint space -----------------------------------------------------------------------
    @property
    def score_activation(self) -> Literal["softmax", "sigmoid"]:
        return "softmax"

    def logit_scale_value(self) -> torch.Tensor:
        return self.logit_scale.exp()

    def scale_similarity(self, cosine: torch.Tensor) -> torch.Tensor:
        return self.logit_scale.exp() * cosine

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Image-text logits (B_img, B_txt); images may be clips, then frames are averaged."""
        emb = self.encode_video(images).mean(1) if images.ndim == 5 else self.encode_image(images)
        return self.logits(emb, self.encode_text(input_ids))

    # -- parameters by role ----------------------------------------------------------------
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
            prefix = f"{_BLOCKS[tower]}{index % depth}."
            return [n for n in names if n.startswith(prefix)]
        if part == "norm":  # block norms, the sub-LNs inside attention and MLP, the final norm
            norms = {f"{mod}.{p}" for mod, m in self.named_modules()
                     if isinstance(m, nn.LayerNorm) for p, _ in m.named_parameters(recurse=False)}
            return [n for n in names if n in norms]
        params = dict(self.named_parameters())
        return [n for n in names if n.rsplit(".", 1)[-1] == "bias" and params[n].ndim == 1]

    def layer_index(self, name: str) -> tuple[str, int] | None:
        m = _BLOCK.match(name)
        if m:
            return m.group(1).split(".", 1)[0], int(m.group(2)) + 1
        for tower in ("visual", "text"):
            if name.startswith(_EMBED[tower]):
                return tower, 0
            if name.startswith(_HEAD[tower]):
                return tower, len(getattr(self, tower).blocks) + 1
        return None

    def lora_targets(self, towers: Sequence[str], kinds: Sequence[str]) -> str:
        unknown = [k for k in kinds if k not in LORA_KINDS]
        bad = [t for t in towers if t not in _LORA]
        if unknown or bad or not kinds or not towers:
            raise ValueError(f"LoRA targets: kinds must be among {', '.join(LORA_KINDS)} and towers among "
                             f"visual, text; got kinds={list(kinds)}, towers={list(towers)}")
        per_tower = []
        for tower in towers:
            inner = "|".join(re.escape(m) for k in kinds for m in _LORA[tower][k])
            per_tower.append(rf"{re.escape(_BLOCKS[tower])}\d+\.({inner})")
        return "|".join(f"({p})" for p in per_tower)

    def is_table(self, name: str) -> bool:
        return bool(_TABLES.match(name))

    # -- runtime ---------------------------------------------------------------------------
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.visual.grad_checkpointing = enable
        self.text.transformer.grad_checkpointing = enable


__all__ = ["EvaClip"]
