"""Moment-DETR: a DETR-style encoder-decoder over clip features and query tokens (post-network
tuning for temporal grounding).

Lei et al., "QVHighlights: Detecting Moments and Highlights in Videos via Natural Language
Queries", NeurIPS 2021 (arXiv 2107.09609); official code github.com/jayleicn/moment_detr
(``moment_detr/model.py``, ``transformer.py``, ``position_encoding.py``, ``config.py``). As
there, shapes (B queries, N clips, L tokens, d = ``hidden_dim``)::

    clips (B, N, C) ─ L2-norm ─ ++TEF (B, N, C+2) ─ input_vid_proj ─┐ concat (B, N+L, d)
    query tokens (B, L, D) ─ L2-norm ─ input_txt_proj ──────────────┘   ─ encoder (2 layers)
    positions: sine over the clip mask (normalised to the video's length) for clips, zeros for text
    memory ─ decoder (2 layers, 10 learned moment queries, every layer's output kept)
      ─ class_embed (fg/bg) · span_embed (3-layer MLP, sigmoid (center, width))
    memory[:, :N] ─ saliency_proj ─ per-clip saliency (B, N)

Defaults are the official ones: hidden 256, 8 heads, 2 + 2 layers, feed-forward 1024, dropout
0.1, input dropout 0.5, ``n_input_proj`` 2, 10 queries, TEF on (``ctx_mode video_tef``),
inputs L2-normalised (the official dataset normalises both features), text positions off
(``use_txt_pos`` False; its learned variant is not provided here). Losses
(:class:`~.losses.MomentCriterion`): Hungarian matching with costs class 4 / span 10 / gIoU 1,
span L1 10, gIoU 1, label 4 (``eos_coef`` 0.1), saliency margin 0.2 weight 1, at every decoder
layer. Departures: features of any length (the official code cuts videos at ``max_v_l`` = 75
clips; the sine positions are normalised to each video's length, so nothing here depends on
it); the optional rank-contrastive saliency loss of QD-DETR (``rank_contrastive_weight``,
0 by default); the span-classification variant (``span_loss_type ce``) and the contrastive
alignment loss (off in the official setup) are not provided.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .heads import GroundingHead, GroundingInputs, GroundingOutput, GroundingTargets
from .losses import MomentCriterion
from .matcher import HungarianMatcher, span_cxw_to_xx, span_xx_to_cxw


class LinearLayer(nn.Module):
    """LayerNorm -> dropout -> linear -> optional ReLU (the official input projection unit)."""

    def __init__(self, d_in: int, d_out: int, dropout: float, relu: bool) -> None:
        super().__init__()
        self.norm, self.dropout = nn.LayerNorm(d_in), nn.Dropout(dropout)
        self.linear, self.relu = nn.Linear(d_in, d_out), relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(self.dropout(self.norm(x)))
        return F.relu(x) if self.relu else x


def input_projection(d_in: int, hidden: int, layers: int, dropout: float) -> nn.Sequential:
    """``layers`` LinearLayers to ``hidden``, ReLU on all but the last (official ``relu_args``)."""
    if not 1 <= layers <= 3:
        raise ValueError(f"n_input_proj must be 1, 2 or 3, got {layers}")
    dims = [d_in] + [hidden] * layers
    return nn.Sequential(*[LinearLayer(dims[i], dims[i + 1], dropout, relu=i < layers - 1) for i in range(layers)])


def sine_positions(mask: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR's sine positions in 1-D, normalised (official ``PositionEmbeddingSine(normalize=True)``):
    mask (B, N) True on real clips -> (B, N, dim); position = cumulative count / total · 2π."""
    x = mask.float().cumsum(1)
    x = x / (x[:, -1:] + 1e-6) * (2 * math.pi)
    i = torch.arange(dim, dtype=torch.float32, device=mask.device)
    freq = temperature ** (2 * torch.div(i, 2, rounding_mode="floor") / dim)
    p = x[:, :, None] / freq
    return torch.stack((p[:, :, 0::2].sin(), p[:, :, 1::2].cos()), dim=3).flatten(2)


def temporal_endpoints(mask: torch.Tensor) -> torch.Tensor:
    """TEF (the official ``ctx_mode video_tef``): each real clip's (start, end) as fractions of
    its video's clip count; mask (B, N) -> (B, N, 2), zeros on padding."""
    n = mask.sum(1, keepdim=True).clamp(min=1).float()
    start = torch.arange(mask.shape[1], device=mask.device, dtype=torch.float32)[None] / n
    return torch.stack([start, start + 1 / n], dim=-1) * mask[..., None].float()


class EncoderLayer(nn.Module):
    """Post-norm transformer encoder layer with positions added to queries and keys (DETR)."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        q = x + pos
        x = self.norm1(x + self.drop1(self.attn(q, q, x, key_padding_mask=pad, need_weights=False)[0]))
        return self.norm2(x + self.drop2(self.ff(x)))


class DecoderLayer(nn.Module):
    """Post-norm DETR decoder layer: self-attention of the moment queries, cross-attention to
    the memory (positions on keys, query embeddings on queries), feed-forward."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop1, self.drop2, self.drop3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, t: torch.Tensor, memory: torch.Tensor, pad: torch.Tensor, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        q = t + query_pos
        t = self.norm1(t + self.drop1(self.self_attn(q, q, t, need_weights=False)[0]))
        t2 = self.cross_attn(t + query_pos, memory + pos, memory, key_padding_mask=pad, need_weights=False)[0]
        t = self.norm2(t + self.drop2(t2))
        return self.norm3(t + self.drop3(self.ff(t)))


class MomentTransformer(nn.Module):
    """The official ``Transformer``: encoder over [clips; text], decoder whose every layer's
    output goes through the shared final LayerNorm (``return_intermediate_dec``)."""

    def __init__(self, d: int, heads: int, enc_layers: int, dec_layers: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.encoder = nn.ModuleList(EncoderLayer(d, heads, ff, dropout) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(d, heads, ff, dropout) for _ in range(dec_layers))
        self.decoder_norm = nn.LayerNorm(d)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src: torch.Tensor, pad: torch.Tensor, queries: torch.Tensor,
                pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S, d), pad (B, S) True on padding, queries (Q, d), pos (B, S, d) ->
        hs (K, B, Q, d) per decoder layer, memory (B, S, d)."""
        memory = src
        for layer in self.encoder:
            memory = layer(memory, pad, pos)
        query_pos = queries[None].expand(src.shape[0], -1, -1)
        t, hs = torch.zeros_like(query_pos), []
        for layer in self.decoder:
            t = layer(t, memory, pad, pos, query_pos)
            hs.append(self.decoder_norm(t))
        return torch.stack(hs), memory


class MLP(nn.Module):
    """``layers`` linear maps with ReLU between them (DETR's box head)."""

    def __init__(self, d_in: int, hidden: int, d_out: int, layers: int) -> None:
        super().__init__()
        dims = [d_in] + [hidden] * (layers - 1) + [d_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class MomentDETR(GroundingHead):
    """Moment-DETR (module docstring). ``clip_dim`` C, ``text_dim`` D; ``embed_dim`` unused."""

    name: ClassVar[str] = "moment_detr"
    paper: ClassVar[str] = "Lei et al., NeurIPS 2021 (arXiv 2107.09609), Moment-DETR"
    FOREGROUND: ClassVar[int] = 0  # the official label order: 0 foreground, 1 background

    def __init__(self, clip_dim: int, text_dim: int, embed_dim: int = 0, hidden_dim: int = 256, heads: int = 8,
                 enc_layers: int = 2, dec_layers: int = 2, dim_feedforward: int = 1024, dropout: float = 0.1,
                 input_dropout: float = 0.5, n_input_proj: int = 2, num_queries: int = 10, use_tef: bool = True,
                 normalize_inputs: bool = True, aux_loss: bool = True, set_cost_class: float = 4.0,
                 set_cost_span: float = 10.0, set_cost_giou: float = 1.0, span_loss_coef: float = 10.0,
                 giou_loss_coef: float = 1.0, label_loss_coef: float = 4.0, eos_coef: float = 0.1,
                 lw_saliency: float = 1.0, saliency_margin: float = 0.2, rank_contrastive_weight: float = 0.0) -> None:
        super().__init__()
        if hidden_dim % heads or hidden_dim % 2:
            raise ValueError(f"moment_detr: hidden_dim {hidden_dim} must be even and divisible by heads {heads}")
        if num_queries < 1 or dec_layers < 1 or enc_layers < 0:
            raise ValueError("moment_detr: num_queries and dec_layers must be >= 1, enc_layers >= 0")
        self.hidden_dim, self.use_tef, self.normalize_inputs = hidden_dim, use_tef, normalize_inputs
        self.input_vid_proj = input_projection(clip_dim + (2 if use_tef else 0), hidden_dim, n_input_proj,
                                               input_dropout)
        self.input_txt_proj = input_projection(text_dim, hidden_dim, n_input_proj, input_dropout)
        self.transformer = MomentTransformer(hidden_dim, heads, enc_layers, dec_layers, dim_feedforward, dropout)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.class_embed = nn.Linear(hidden_dim, 2)
        self.span_embed = MLP(hidden_dim, hidden_dim, 2, 3)
        self.saliency_proj = nn.Linear(hidden_dim, 1)
        self.criterion = MomentCriterion(
            HungarianMatcher(set_cost_class, set_cost_span, set_cost_giou, foreground=self.FOREGROUND),
            span_weight=span_loss_coef, giou_weight=giou_loss_coef, label_weight=label_loss_coef,
            saliency_weight=lw_saliency, saliency_margin=saliency_margin, eos_coef=eos_coef,
            rank_contrastive_weight=rank_contrastive_weight, aux_loss=aux_loss)

    def forward(self, inputs: GroundingInputs) -> GroundingOutput:
        clips, mask = inputs.clips, inputs.clip_mask.bool()
        text, tmask = inputs.text.tokens, inputs.text.mask.bool()
        dtype = self.class_embed.weight.dtype
        clips, text = clips.to(dtype), text.to(dtype)
        if self.normalize_inputs:
            clips, text = F.normalize(clips, dim=-1), F.normalize(text, dim=-1)
        if self.use_tef:
            clips = torch.cat([clips, temporal_endpoints(mask).to(dtype)], dim=-1)
        vid = self.input_vid_proj(clips)
        txt = self.input_txt_proj(text)
        src = torch.cat([vid, txt], dim=1)
        pad = ~torch.cat([mask, tmask], dim=1)
        pos = torch.cat([sine_positions(mask, self.hidden_dim).to(dtype), torch.zeros_like(txt)], dim=1)
        hs, memory = self.transformer(src, pad, self.query_embed.weight, pos)
        logits = self.class_embed(hs)  # (K, B, Q, 2)
        spans = self.span_embed(hs).sigmoid()  # (K, B, Q, 2) (center, width)
        saliency = self.saliency_proj(memory[:, : vid.shape[1]]).squeeze(-1)  # (B, N)
        windows = span_cxw_to_xx(spans[-1]).clamp(0, 1)
        scores = logits[-1].softmax(-1)[..., self.FOREGROUND]
        return GroundingOutput(windows, scores, saliency, {"logits": logits, "spans": spans})

    def loss(self, output: GroundingOutput, targets: GroundingTargets) -> dict[str, torch.Tensor]:
        ex: dict[str, Any] = output.extras
        cxw = [span_xx_to_cxw(w.float()) for w in targets.windows]
        return self.criterion(ex["logits"], ex["spans"], output.saliency, cxw, targets.saliency,
                              targets.relevant, targets.saliency_mask, targets.annotated)


__all__ = ["MomentDETR", "MomentTransformer", "sine_positions", "temporal_endpoints"]
