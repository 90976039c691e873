"""Small pieces the strategies' modules share: stochastic depth (drop path) and its per-block
schedule, and PyTorch's ``nn.MultiheadAttention`` initialisation for vidlift's attention. One
of each: every strategy with a drop-path hyper-parameter, or a reference built on
``nn.MultiheadAttention``, uses these."""

from __future__ import annotations

import torch
from torch import nn


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016), per
    sample as timm's ``DropPath``: while training, each sample of the residual branch x
    (S, ...) — one row of its first axis — is zeroed with probability p and the others are
    scaled by 1 / (1 − p), so the expectation is x; in eval mode (or p = 0) x is returned
    unchanged. The draw uses the global generator (``torch.manual_seed`` fixes it), and no
    random number is drawn when nothing is dropped.

    What a sample is follows from the layout the caller passes: a video strategy folds its
    (B·T, N, D) tokens to (B, T·N, D) first so that a clip's branch is kept or dropped whole.
    """
    if p == 0.0 or not training:
        return x
    keep = x.new_empty(x.shape[0], *([1] * (x.ndim - 1))).bernoulli_(1 - p)
    return x * keep / (1 - p)


def drop_path_clips(x: torch.Tensor, p: float, training: bool, clips: int) -> torch.Tensor:
    """:func:`drop_path` with one draw per clip: x (B·T, ...) of ``clips`` = B clips -> the same
    shape, the T frames of a clip kept or dropped together."""
    if p == 0.0 or not training:
        return x
    return drop_path(x.reshape(clips, -1, *x.shape[1:]), p, training).reshape(x.shape)


def linear_drop_path_rates(depth: int, rate: float) -> list[float]:
    """Per-block drop-path rates rising linearly from 0 at the first block to ``rate`` at the
    last (``torch.linspace(0, rate, depth)``): the stochastic-depth decay rule of timm's ViT,
    which AIM's ``Transformer`` and TimeSformer's ``VisionTransformer`` use. One block gets 0."""
    return [float(r) for r in torch.linspace(0, rate, depth, dtype=torch.float64)]


@torch.no_grad()
def init_like_torch_mha(attn: nn.Module) -> None:
    """Initialise vidlift's :class:`~vidlift.backbones.layers.Attention` (separate q / k / v /
    out projections of width D) as ``nn.MultiheadAttention._reset_parameters`` initialises its
    packed one: Xavier-uniform over the stacked (3D, D) input projection — bound
    sqrt(6 / (D + 3D)), not the sqrt(6 / 2D) of three separate (D, D) matrices — zero input and
    output biases, and the output weight left at ``nn.Linear``'s default (which is what
    ``nn.MultiheadAttention``'s ``out_proj`` keeps)."""
    q, k, v = attn.q_proj, attn.k_proj, attn.v_proj
    packed = torch.empty(3 * q.out_features, q.in_features, dtype=q.weight.dtype, device=q.weight.device)
    nn.init.xavier_uniform_(packed)
    for proj, w in zip((q, k, v), packed.chunk(3)):
        proj.weight.copy_(w)
        if proj.bias is not None:
            proj.bias.zero_()
    if attn.out_proj.bias is not None:
        attn.out_proj.bias.zero_()


__all__ = ["drop_path", "drop_path_clips", "linear_drop_path_rates", "init_like_torch_mha"]
