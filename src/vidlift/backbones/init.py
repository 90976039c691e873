"""Initialisers of a CLIP image tower for pretraining from scratch.

Loaded weights never need these: they are for a model built empty (``CLIP(get_arch(...))``)
and then pretrained, as the project's tiny ILFM is (:mod:`vidlift.synthetic.pretrain`). They
live here, beside :class:`~vidlift.backbones.model.CLIP`, because they write its own
parameters (``visual.pos_embed``, the attention projections, ``visual.patch_embed``); code
outside :mod:`vidlift.backbones` calls them and never touches those attributes itself.

Each changes the model in place and draws random numbers only where it says so, so a recipe
that calls them in a fixed order after ``torch.manual_seed`` stays deterministic.
"""

from __future__ import annotations

import torch

from .model import CLIP


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """(grid², dim) fixed 2-D sine-cosine position code (x in the first half, y in the second)."""
    axis = torch.arange(grid, dtype=torch.float32)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    parts = [f(c.flatten()[:, None] * omega) for c in (x, y) for f in (torch.sin, torch.cos)]
    return torch.cat(parts, 1)


@torch.no_grad()
def sincos_position_init(model: CLIP, scale: float = 0.5) -> None:
    """Set the image tower's patch position embeddings to ``scale`` × :func:`sincos_2d` and the
    class token's (if any) to zero. Draws no random numbers."""
    v = model.cfg.vision
    model.visual.pos_embed[-v.grid_size**2 :] = scale * sincos_2d(v.grid_size, v.width)
    if v.class_token:
        model.visual.pos_embed[0] = 0


@torch.no_grad()
def mimetic_attention_init(model: CLIP, alpha: float = 0.7, beta: float = 0.4) -> None:
    """Start each image-tower attention layer with W_q^T W_k ≈ alpha(Z + I) and W_v^T W_o^T ≈
    beta(Z - I), Z random (Trockman & Kolter, "Mimetic Initialization of Self-Attention Layers",
    ICML 2023): with sine-cosine positions, tokens then attend to their neighbours from step one,
    as a convolution would, instead of uniformly. Draws two (d, d) normal matrices per block."""
    for block in model.visual.blocks:
        attn = block.attn
        d = attn.q_proj.weight.shape[0]
        for first, second, target in (
            (attn.q_proj, attn.k_proj, alpha * (torch.randn(d, d) / d**0.5 + torch.eye(d))),  # scores: x W_q^T W_k x^T
            (attn.v_proj, attn.out_proj, beta * (torch.randn(d, d) / d**0.5 - torch.eye(d))),  # output: x W_v^T W_o^T
        ):
            u, s, vh = torch.linalg.svd(target)
            first.weight.copy_((u * s.sqrt()).t())  # W_first^T = u s^½
            right = s.sqrt()[:, None] * vh  # s^½ vh, so that W_first^T · right = target
            second.weight.copy_(right if second is attn.k_proj else right.t())


@torch.no_grad()
def pca_patch_init(model: CLIP, images: torch.Tensor) -> None:
    """Set the patch embedding's filters to the whitened principal components of patches of
    ``images`` (already preprocessed, (N, 3, H, W)): the first layer then starts as a basis of
    the stills' edges and colour contrasts instead of noise. Draws no random numbers."""
    p, width = model.cfg.vision.patch_size, model.cfg.vision.width
    patches = images.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3 * p * p)
    patches = patches - patches.mean(0)
    eigval, eigvec = torch.linalg.eigh(patches.t() @ patches / len(patches))
    eigval, eigvec = eigval.flip(0), eigvec.flip(1)  # largest first
    k = min(width, patches.shape[1])
    weight = model.visual.patch_embed.weight.view(width, -1)
    weight[:k] = 0.5 * (eigvec[:, :k] / (eigval[:k] + 1e-2).sqrt()).t()


__all__ = ["sincos_2d", "sincos_position_init", "mimetic_attention_init", "pca_patch_init"]
