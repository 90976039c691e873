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


import torch
import torch.nn.functional as F
from torch import nn

from .config import CLIPConfig
from .text import TextOutput, TextTransformer
from .vision import VisionOutput, VisionTransformer


class CLIP(nn.Module):
    """CLIP (Radford et al., ICML 2021) and SigLIP (Zhai et al., ICCV 2023) in one class.

    Image / text embeddings are returned un-normalised; ``logits`` normalises them.
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
    def embed_dim(self) -> int:
        return self.cfg.embed_dim if self.visual_proj is not None else self.cfg.vision.width

    # -- image tower -------------------------------------------------------------------
    def project_image(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled image-tower output (..., width) -> joint space (..., E); identity for SigLIP."""
        return pooled if self.visual_proj is None else self.visual_proj(pooled)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> (B, E)."""
        return self.project_image(self.visual(images).pooled)

    def forward_video_features(
        self, video: torch.Tensor, layers: "list[int] | str | None" = None
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

    def forward_text_features(self, input_ids: torch.Tensor, layers: "list[int] | str | None" = None) -> TextOutput:
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

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.visual.transformer.grad_checkpointing = enable
        self.text.transformer.grad_checkpointing = enable


def clip_loss(logits_per_image: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a square (B, B) logit matrix whose diagonal holds the pairs -> scalar."""
    target = torch.arange(logits_per_image.shape[0], device=logits_per_image.device)
    return 0.5 * (F.cross_entropy(logits_per_image, target) + F.cross_entropy(logits_per_image.t(), target))


def siglip_loss(logits_per_image: torch.Tensor) -> torch.Tensor:
    """SigLIP's pairwise sigmoid loss on (B, B) logits (bias included): −1/B Σ_ij log σ(z_ij·logit_ij),
    z = +1 on the diagonal (the pairs), −1 elsewhere."""
    n = logits_per_image.shape[0]
    z = 2 * torch.eye(n, device=logits_per_image.device, dtype=logits_per_image.dtype) - 1
    return -F.logsigmoid(z * logits_per_image).sum() / n


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = ["CLIP", "clip_loss", "siglip_loss", "count_parameters"]
