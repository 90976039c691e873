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
from typing import ClassVar

import torch
from torch import nn

from ..contract import BackboneCapabilityError
from ..dual import DualEncoder, Layout
from ..layers import init_weights
from ..text import TextTransformer
from .config import EvaClipConfig
from .vision import EvaVisionTransformer

# Linear modules per LoRA kind, per tower: the SwiGLU has two input projections (gate, value).
EVA_LAYOUT = Layout(
    embed={"visual": ("visual.patch_embed.", "visual.pos_embed", "visual.class_embedding"),
           "text": ("text.token_embedding.", "text.pos_embed")},
    head={"visual": ("visual.ln_post.", "visual_proj."), "text": ("text.ln_final.", "text_proj.")},
    projection={"visual": ("visual_proj.",), "text": ("text_proj.",)},
    blocks={"visual": "visual.blocks.", "text": "text.transformer.blocks."},
    tables=re.compile(r"^(visual\.(pos_embed|class_embedding)|text\.(pos_embed|token_embedding\.weight))$"),
    lora={
        "visual": {"attn_q": ("attn.q_proj",), "attn_k": ("attn.k_proj",), "attn_v": ("attn.v_proj",),
                   "attn_out": ("attn.out_proj",), "mlp_in": ("mlp.fc1_g", "mlp.fc1_x"), "mlp_out": ("mlp.fc2",)},
        "text": {"attn_q": ("attn.q_proj",), "attn_k": ("attn.k_proj",), "attn_v": ("attn.v_proj",),
                 "attn_out": ("attn.out_proj",), "mlp_in": ("mlp.fc1",), "mlp_out": ("mlp.fc2",)},
    },
)


class EvaClip(DualEncoder):
    """EVA02-CLIP (Sun et al., "EVA-CLIP: Improved Training Techniques for CLIP at Scale", 2023).

    Image / text embeddings are returned un-normalised; ``logits`` normalises them.
    """

    family: ClassVar[str] = "eva-clip"
    layout: ClassVar[Layout] = EVA_LAYOUT

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
        self.logit_bias = None

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

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.visual.grad_checkpointing = enable
        self.text.transformer.grad_checkpointing = enable


__all__ = ["EvaClip", "EVA_LAYOUT"]
