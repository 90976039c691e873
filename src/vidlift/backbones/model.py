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
import re
from typing import ClassVar

import torch
from torch import nn

from .config import CLIPConfig
from .dual import DualEncoder, Layout
from .layers import init_weights
from .text import TextTransformer
from .vision import VisionTransformer

_BLOCK_LORA = {"attn_q": ("attn.q_proj",), "attn_k": ("attn.k_proj",), "attn_v": ("attn.v_proj",),
               "attn_out": ("attn.out_proj",), "mlp_in": ("mlp.fc1",), "mlp_out": ("mlp.fc2",)}
CLIP_LAYOUT = Layout(
    embed={"visual": ("visual.patch_embed.", "visual.pos_embed", "visual.class_embedding", "visual.ln_pre."),
           "text": ("text.token_embedding.", "text.pos_embed")},
    head={"visual": ("visual.ln_post.", "visual.attn_pool.", "visual_proj."), "text": ("text.ln_final.", "text_proj.")},
    projection={"visual": ("visual_proj.",), "text": ("text_proj.",)},
    blocks={"visual": "visual.transformer.blocks.", "text": "text.transformer.blocks."},
    tables=re.compile(r"^(visual\.(pos_embed|class_embedding|attn_pool\.probe)"
                      r"|text\.(pos_embed|token_embedding\.weight))$"),
    lora={"visual": _BLOCK_LORA, "text": _BLOCK_LORA},
)


class CLIP(DualEncoder):
    """CLIP (Radford et al., ICML 2021) and SigLIP (Zhai et al., ICCV 2023) in one class.

    Image / text embeddings are returned un-normalised; ``logits`` normalises them. Code
    outside :mod:`vidlift.backbones` uses it through the
    :class:`~vidlift.backbones.contract.VisionLanguageBackbone` contract only.
    """

    layout: ClassVar[Layout] = CLIP_LAYOUT

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

    def image_tower_like(self, width: int, layers: int, heads: int, who: str) -> VisionTransformer:
        """This tower's config (patch size, resolution, class token or MAP head, activation,
        norms) at ``width`` / ``layers`` / ``heads``, small-normal initialised."""
        tower = VisionTransformer(dataclasses.replace(self.cfg.vision, width=width, layers=layers, heads=heads))
        init_weights(tower.transformer)
        return tower

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.visual.transformer.grad_checkpointing = enable
        self.text.transformer.grad_checkpointing = enable


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = ["CLIP", "CLIP_LAYOUT", "count_parameters"]
