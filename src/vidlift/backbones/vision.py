"""The image tower (ViT) with the frame axis visible to its blocks.

Input is either images (B, C, H, W) or clips (B, T, C, H, W); clips run as B·T images and
every block receives ``ctx.num_frames = T``. Tower-level hook sites:

- ``embed``: tokens (B·T, N, D) after patch + position embedding, before ``ln_pre`` — where
  visual prompts are prepended (update ``ctx.num_prefix_tokens``);
- ``out``: final tokens (B·T, N, D) after ``ln_post``, before pooling.

``num_prefix_tokens`` starts at 1 with a class token (CLIP) and 0 without (SigLIP).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .config import VisionConfig
from .layers import Attention, BlockContext, HookPoints, Mlp, Transformer, normalize_layers


@dataclass
class VisionOutput:
    """pooled: (B, D) or (B, T, D) before the projection; tokens: final tokens after
    ``ln_post``, (B[, T], N, D); layers: {block index: (B[, T], N, D)} as requested."""

    pooled: torch.Tensor
    tokens: torch.Tensor
    layers: dict[int, torch.Tensor] = field(default_factory=dict)
    num_prefix_tokens: int = 0


def frames_as_images(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int] | None]:
    """Images (B, C, H, W) or clips (B, T, C, H, W) -> images (B[·T], C, H, W) and (B, T) for
    clips (None for images): how every image tower of vidlift runs video."""
    if x.ndim == 5:
        return x.flatten(0, 1), (x.shape[0], x.shape[1])
    if x.ndim != 4:
        raise ValueError(f"expected (B, C, H, W) or (B, T, C, H, W), got shape {tuple(x.shape)}")
    return x, None


def tower_output(pooled: torch.Tensor, tokens: torch.Tensor, layers: dict[int, torch.Tensor],
                 clips: tuple[int, int] | None, num_prefix_tokens: int) -> VisionOutput:
    """A :class:`VisionOutput` with the frame axis folded back out for clips."""

    def unfold(t: torch.Tensor) -> torch.Tensor:
        return t if clips is None else t.unflatten(0, clips)

    return VisionOutput(pooled=unfold(pooled), tokens=unfold(tokens), layers={i: unfold(t) for i, t in layers.items()},
                        num_prefix_tokens=num_prefix_tokens)


class AttentionPool(nn.Module):
    """SigLIP's multi-head attention pooling (MAP) head: one learned probe attends to all
    tokens, then a residual MLP (Zhai et al., "Sigmoid Loss for Language Image Pre-Training",
    ICCV 2023)."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.probe = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.attn = Attention(cfg.width, cfg.heads)
        self.norm = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.mlp = Mlp(cfg.width, cfg.mlp_dim, cfg.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, N, D) -> (B, D)."""
        h = self.attn(self.probe.expand(x.shape[0], -1, -1), kv=x)
        h = h + self.mlp(self.norm(h))
        return h[:, 0]


class VisionTransformer(nn.Module):
    """ViT image tower of CLIP (Radford et al., ICML 2021) and SigLIP."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.patch_embed = nn.Conv2d(3, w, cfg.patch_size, cfg.patch_size, bias=cfg.patch_bias)
        n_tok = cfg.grid_size**2 + (1 if cfg.class_token else 0)
        self.class_embedding = nn.Parameter(torch.zeros(w)) if cfg.class_token else None
        self.pos_embed = nn.Parameter(torch.zeros(n_tok, w))
        nn.init.normal_(self.pos_embed, std=0.01)
        if self.class_embedding is not None:
            nn.init.normal_(self.class_embedding, std=w**-0.5)
        self.ln_pre = nn.LayerNorm(w, eps=cfg.ln_eps) if cfg.pre_norm else nn.Identity()
        self.transformer = Transformer(w, cfg.layers, cfg.heads, cfg.mlp_dim, cfg.act, cfg.ln_eps)
        self.ln_post = nn.LayerNorm(w, eps=cfg.ln_eps)
        self.attn_pool = AttentionPool(cfg) if cfg.pool == "map" else None
        self.hooks = HookPoints(("embed", "out"))

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.blocks

    @property
    def num_prefix_tokens(self) -> int:
        return 1 if self.class_embedding is not None else 0

    def _pos_embed(self, gh: int, gw: int) -> torch.Tensor:
        """Position embeddings for a gh×gw patch grid (bicubic interpolation when the input
        size differs from the training size)."""
        pe = self.pos_embed
        g = self.cfg.grid_size
        if (gh, gw) == (g, g):
            return pe
        prefix, grid = pe[: self.num_prefix_tokens], pe[self.num_prefix_tokens :]
        grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([prefix, grid.permute(0, 2, 3, 1).reshape(gh * gw, -1)])

    def forward(
        self, x: torch.Tensor, return_layers: list[int] | str | None = None
    ) -> VisionOutput:
        """x (B, C, H, W) or (B, T, C, H, W) -> :class:`VisionOutput` (frame axis kept)."""
        x, clips = frames_as_images(x)
        ctx = BlockContext("visual", num_frames=clips and clips[1], num_prefix_tokens=self.num_prefix_tokens)
        x = self.patch_embed(x)
        gh, gw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # (B·T, gh·gw, D)
        if self.class_embedding is not None:
            cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
            x = torch.cat([cls, x], dim=1)
        x = x + self._pos_embed(gh, gw).to(x.dtype)
        x = self.hooks.run("embed", x, ctx)
        x = self.ln_pre(x)
        wanted = normalize_layers(return_layers, len(self.blocks))
        x, layers = self.transformer(x, ctx, wanted)
        x = self.ln_post(x)
        x = self.hooks.run("out", x, ctx)
        pooled = self.attn_pool(x) if self.attn_pool is not None else x[:, 0]
        return tower_output(pooled, x, layers, clips, ctx.num_prefix_tokens)
