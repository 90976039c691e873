"""R²-Tuning's side network (Liu et al., "R²-Tuning: Efficient Image-to-Video Transfer Learning
for Video Temporal Grounding", ECCV 2024, arXiv 2404.00801; official code
github.com/yeliudev/R2-Tuning, ``models/adapter.py`` ``R2Block``, ``models/model.py``,
``configs/_base_/models/model.py``; its transformer pieces are nncore's
``TransformerDecoderLayer`` / ``MultiHeadAttention`` / ``PositionalEncoding``).

One R² block, shared over the last k frozen layers of *both* towers and run recurrently from
the last layer back to earlier ones (coarse to fine). For step i (k−1 down to 0), with video
layer i's tokens v_i (B, N, P, D) and text layer i's tokens q_i (B, L, D_t)::

    V = video_map([v_i, tef])            (B, N, P, C)   LN, drop, Linear, ReLU, LN, drop, Linear
    Q = query_map(q_i)                   (B, L, C)      the same shape of map, from the text width
    A = softmax_P(q_map(Q) · v_map(V)ᵀ / √C)            (B·N, L, P): query-modulated spatial pooling
    o = max_L(A · V + Q)                 (B, N, C)      over the real query tokens
    s = V[:, :, 0] + tanh(scale_i) · o                  the mapped class token plus the pooled vector
    s = σ(gate_i) · s + (1 − σ(gate_i)) · state         (not on the first step)
    state = temporal(s, Q)               (B, N, C)      post-norm decoder layer: cross-attention
                                                        to Q, self-attention over N with
                                                        sinusoidal positions, FFN; drop-path 0.1

The states after step 0 are the clip sequence a grounding head reads (:meth:`R2Head.
query_states`); the per-layer class tokens V[:, :, 0] and query tokens Q are kept for R²'s
layer-wise contrastive losses (``coll_v`` / ``coll_q`` in the official code; the losses live
with the grounding head, :mod:`vidlift.tasks.grounding.r2_head`). Layers are aligned from the
end: video block ``depth_v − k + j`` pairs with text block ``depth_t − k + j``, as the official
code stacks both towers' outputs and takes ``[-k:]`` of each (12/12 at ViT-B/32).

Where this departs from the official code, and why:

- Padding: the official batches pad the query with zeros and take the max over *all* L query
  tokens (padding included), and compute the temporal endpoint features and sinusoidal
  positions over the padded clip count. Here padded query tokens are left out of the max and
  the positions / endpoint features use each video's own clip count, so a video's states do
  not depend on what it is batched with; with one video per batch (the official inference)
  both agree.
- No class token (SigLIP): the mean of the mapped patches stands in for V[:, :, 0].
- As a plain video head (recognition, retrieval: no text) the query is the clip's own frozen
  frame embeddings (B, T, E) through ``query_map`` (an E -> C map of R²'s shape), the same for
  every layer (through ``frame_in``, Linear E -> D_t, where the widths differ), and the states
  (B, T, C) end in a Linear C -> E and a mean over T. Both are vidlift's adaptation to the
  joint-space video-head role; ``out`` and ``frame_in`` get no gradient when text is given.
  ``fuse=True`` (default False) adds the frozen mean frame embedding to that output, with
  ``out`` zero-initialised so the head starts as CLIP's meanP: vidlift's option, not R²'s (its
  ``R2Tuning.forward`` never uses CLIP's projected frame embedding).

Parameters at ViT-B/32 (C = 256, k = 4; counted on ``random:ViT-B-32``, tested): the
published side network (video map, query map, v / q maps, gates, scales, temporal layer) has
1,648,907; with the R² grounding heads (:class:`~vidlift.tasks.grounding.r2_head.
R2GroundingHead`: pyramid 791,040, class head 197,633, boundary head 198,402, pooling 256,
coefficients 4 = 1,187,335) 2,836,242: 1.87% of CLIP B/32's 151,277,313 parameters (1.84% of
the whole). The paper states about 1.5%; we could not reconcile the two from the official
code, whose modules these counts follow one for one. vidlift's video-head extra ``out``
(131,584) brings the video head alone to 1,780,491.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ...backbones.layers import Attention
from ..base import Strategy, TransferCompositionError, VideoFeatures
from ..checks import check_bool, check_int, check_probability
from ..layers import drop_path
from ..model import TransferModel
from .side_tuning import _last_blocks, _layer


def sine_positions(mask: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """nncore's ``PositionalEncoding(normalize=True)`` with a mask: clip j of a row with n real
    clips sits at (j+1)/n · 2π; channel 2m gets sin(pos / 10000^(2m/dim)), 2m+1 the cos.
    mask (B, N) bool -> (B, N, dim). Padded clips get the last real clip's position."""
    pos = mask.float().cumsum(1)
    pos = pos / (pos[:, -1:] + 1e-6) * 2 * math.pi
    freq = 10000 ** (2 * (torch.arange(dim, device=mask.device) // 2) / dim)
    ang = pos[..., None] / freq
    return torch.where(torch.arange(dim, device=mask.device) % 2 == 0, ang.sin(), ang.cos()).to(dtype)


def _key_mask(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, M) bool, True on real keys -> additive (B, 1, 1, M) attention mask."""
    if mask is None:
        return None
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))[:, None, None]


def _nncore_attention(dim: int, heads: int) -> Attention:
    """vidlift's attention with nncore's ``MultiHeadAttention`` init (``att_init_cfg`` xavier
    uniform): each of the q, k, v and output (D, D) weights Xavier-uniform, biases zero."""
    attn = Attention(dim, heads)
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj):
        nn.init.xavier_uniform_(proj.weight)
        nn.init.zeros_(proj.bias)
    return attn


def _mapping(d_in: int, dims: int, dropout: float) -> nn.Sequential:
    """R²'s video / query map: LN, dropout, Linear d_in -> C, ReLU, LN, dropout, Linear C -> C."""
    return nn.Sequential(nn.LayerNorm(d_in), nn.Dropout(dropout), nn.Linear(d_in, dims), nn.ReLU(),
                         nn.LayerNorm(dims), nn.Dropout(dropout), nn.Linear(dims, dims))


class R2TemporalLayer(nn.Module):
    """R²-Tuning's temporal refinement: nncore's post-norm ``TransformerDecoderLayer`` in the
    order cross-attention, self-attention, FFN (ReLU, ratio 4, 8 heads), drop-path on each
    branch. States x (B, N, C) with positions pe (B, N, C) attend to the query tokens m (B, L, C)
    (positions on x only), then to each other (positions on queries and keys, not values).
    ``m_mask`` (B, L) / ``x_mask`` (B, N): True on real tokens / clips (None: all real).
    Init as nncore's: attention Xavier-uniform, FFN Kaiming-normal (fan-out), zero biases."""

    def __init__(self, dim: int, heads: int, ratio: int = 4, droppath: float = 0.1) -> None:
        super().__init__()
        self.cross = _nncore_attention(dim, heads)
        self.self_attn = _nncore_attention(dim, heads)
        self.ffn = nn.Sequential(nn.Linear(dim, ratio * dim), nn.ReLU(), nn.Linear(ratio * dim, dim))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.droppath = droppath
        for m in (self.ffn[0], self.ffn[2]):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, m: torch.Tensor, pe: torch.Tensor, m_mask: torch.Tensor | None = None,
                x_mask: torch.Tensor | None = None) -> torch.Tensor:
        p, train = self.droppath, self.training
        x = self.norm1(x + drop_path(self.cross(x + pe, kv=m, attn_mask=_key_mask(m_mask, x.dtype), value=m), p, train))
        h = x + pe
        x = self.norm2(x + drop_path(self.self_attn(h, kv=h, attn_mask=_key_mask(x_mask, x.dtype), value=x), p, train))
        return self.norm3(x + drop_path(self.ffn(x), p, train))


@dataclass
class R2Pass:
    """One run of the R² block. states: (B, N, C) after the last step (layer 0 of the k);
    query: (B, L, C) the mapped query tokens of that step; query_mask: (B, L) or None;
    layer_video: per step, coarse to fine, the mapped class tokens (B, N, C); layer_query: per
    step the mapped query tokens (B, L, C) (``coll_v`` / ``coll_q``)."""

    states: torch.Tensor
    query: torch.Tensor
    query_mask: torch.Tensor | None
    layer_video: list[torch.Tensor]
    layer_query: list[torch.Tensor]


class R2Head(nn.Module):
    """R²-Tuning's R² block (module docstring). As a video head: features -> (B, E); as a
    query-conditioned video head (:class:`~vidlift.tasks.grounding.heads.QueryConditionedVideoHead`):
    ``query_states(features, text, clip_mask)`` -> (B, N, C), ``state_dim`` C, ``text_layers``.

    ``text_width`` (D_t) None: no text query (a backbone without a text tower, or a format-1
    delta); ``query_map`` then reads the frame embeddings (E)."""

    def __init__(self, width: int, embed_dim: int, layer_ids: list[int], dims: int, heads: int, dropout: float,
                 use_tef: bool, fuse: bool, text_width: int | None = None, droppath: float = 0.1) -> None:
        super().__init__()
        k = len(layer_ids)
        self.layer_ids = layer_ids
        self.use_tef = use_tef
        self.fuse = fuse
        self.state_dim = dims
        self.video_map = _mapping(width + 2 if use_tef else width, dims, dropout)
        self.text_query = text_width is not None
        # R²'s query map reads text tokens (D_t); without a text query it reads frame embeddings
        # (E), and where E != D_t (never in released CLIPs) frames reach it through frame_in
        self.query_map = _mapping(text_width or embed_dim, dims, dropout)
        self.frame_in = nn.Linear(embed_dim, text_width) if text_width not in (None, embed_dim) else None
        self.gate = nn.Parameter(torch.zeros(k - 1)) if k > 1 else None  # sigmoid(0): even mix with the last state
        self.v_map = nn.Linear(dims, dims)
        self.q_map = nn.Linear(dims, dims)
        self.scale = nn.Parameter(torch.zeros(k))  # tanh(0) = 0: pooling starts switched off, as in R²
        self.temporal = R2TemporalLayer(dims, heads, droppath=droppath)
        self.out = nn.Linear(dims, embed_dim)
        if fuse:  # start as the frozen meanP (our joint-space adaptation)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    # -- the block ---------------------------------------------------------------------------
    def run(self, features: VideoFeatures, queries: list[torch.Tensor], query_mask: torch.Tensor | None = None,
            clip_mask: torch.Tensor | None = None) -> R2Pass:
        """features.layers at ``layer_ids`` (B, N, P, D); queries: per read layer (same order as
        ``layer_ids``) the mapped query tokens (B, L, C); masks True on real tokens / clips."""
        dtype = self.scale.dtype
        first = _layer(features, self.layer_ids[0], "r2_tuning")
        b, n, p = first.shape[:3]
        c = self.state_dim
        if clip_mask is None:
            clip_mask = torch.ones(b, n, dtype=torch.bool, device=first.device)
        pe = sine_positions(clip_mask, c, dtype)
        prefix = features.num_prefix_tokens
        tef = None
        if self.use_tef:  # temporal endpoint features [j/n, (j+1)/n] of each video's own n clips
            start = torch.arange(n, device=first.device, dtype=dtype)[None] / clip_mask.sum(1, keepdim=True).to(dtype)
            tef = torch.stack([start, start + 1.0 / clip_mask.sum(1, keepdim=True).to(dtype)], -1)  # (B, N, 2)
            tef = tef[:, :, None].expand(b, n, p, 2)
        pool_mask = None
        if query_mask is not None:
            pool_mask = (~query_mask).repeat_interleave(n, dim=0)[..., None]  # (B·N, L, 1) True on padding
        coll_v, coll_q, last, q = [], [], None, None
        for j in reversed(range(len(self.layer_ids))):  # last layer first: coarse to fine
            v = _layer(features, self.layer_ids[j], "r2_tuning").to(dtype)
            if tef is not None:
                v = torch.cat([v, tef], dim=-1)
            v = self.video_map(v)  # (B, N, P, C)
            q = queries[j]  # (B, L, C)
            token = v[:, :, 0] if prefix > 0 else v.mean(2)
            coll_v.append(token)
            coll_q.append(q)
            v_pool = v.flatten(0, 1)  # (B·N, P, C)
            q_pool = q.repeat_interleave(n, dim=0)  # (B·N, L, C)
            att = (self.q_map(q_pool) @ self.v_map(v_pool).transpose(1, 2) / c**0.5).softmax(-1)  # (B·N, L, P)
            o_pool = att @ v_pool + q_pool
            if pool_mask is not None:
                o_pool = o_pool.masked_fill(pool_mask, float("-inf"))
            cur = token + o_pool.amax(dim=1).view(b, n, c) * self.scale[j].tanh()
            if last is not None:
                g = self.gate[j].sigmoid()
                cur = g * cur + (1 - g) * last
            last = self.temporal(cur, q, pe, query_mask, clip_mask)
        return R2Pass(last, q, query_mask, coll_v, coll_q)

    # -- grounding: the published query ------------------------------------------------------------
    def text_layers(self, depth: int) -> list[int]:
        """The text tower's blocks read (the last k of ``depth``), aligned from the end with
        ``layer_ids``."""
        k = len(self.layer_ids)
        if depth < k:
            raise TransferCompositionError(f"r2_tuning reads {k} layers of each tower; the text tower has {depth}")
        return list(range(depth - k, depth))

    def query_states(self, features: VideoFeatures, text: Any, clip_mask: torch.Tensor | None = None,
                     extras: dict[str, Any] | None = None) -> torch.Tensor:
        """features: per-clip frozen layers (B, N, P, D); text: a
        :class:`~vidlift.tasks.grounding.heads.TextQuery` whose ``layers`` hold the blocks of
        :meth:`text_layers` (B, L, D_t), ``mask`` (B, L). Returns the states (B, N, C); fills
        ``extras["r2"]`` with the :class:`R2Pass` (query tokens, layer-wise embeddings)."""
        if not self.text_query:
            raise TransferCompositionError("r2_tuning: the backbone has no text tower, so the published text query "
                                           "is not available")
        ids = sorted(text.layers)[-len(self.layer_ids):]
        if len(ids) < len(self.layer_ids):
            raise KeyError(f"r2_tuning reads {len(self.layer_ids)} text layers; the query holds blocks "
                           f"{sorted(text.layers)} (ask for text_layers(depth))")
        dtype = self.scale.dtype
        queries = [self.query_map(text.layers[i].to(dtype)) for i in ids]
        out = self.run(features, queries, text.mask.bool(), clip_mask)
        if extras is not None:
            extras["r2"] = out
        return out.states

    # -- video head: frames as the query (vidlift's adaptation) ----------------------------------
    def states(self, features: VideoFeatures) -> torch.Tensor:
        """The per-frame states (B, T, C) with the clip's frame embeddings as the query."""
        frames = features.frames.to(self.scale.dtype)
        query = self.query_map(self.frame_in(frames) if self.frame_in is not None else frames)
        return self.run(features, [query] * len(self.layer_ids)).states

    def frame_outputs(self, features: VideoFeatures) -> torch.Tensor:
        """(B, T, E) per-frame outputs before the mean."""
        h = self.out(self.states(features))
        return h + features.frames.to(h.dtype) if self.fuse else h

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        return self.frame_outputs(features).mean(1)


@dataclass
class R2Tuning(Strategy):
    """R²-Tuning (Liu et al., ECCV 2024; github.com/yeliudev/R2-Tuning): the R² side block over
    the last ``layers`` (k = 4) frozen layers of the image and text towers, coarse to fine (see
    :mod:`vidlift.transfer.frozen.r2_tuning`). Fills the ``video_head`` role; the grounding task
    calls its ``query_states`` with the text query's layers (the published model), other
    tasks use it as a video head with the frames as the query. Defaults are the official
    config's: C = ``dims`` 256, ``heads`` 8, ``dropout`` 0.5, temporal endpoint features on,
    drop-path 0.1 in the temporal layer; ``fuse`` False (vidlift's meanP fallback, in no paper).
    """

    name: ClassVar[str] = "r2_tuning"
    family: ClassVar[str] = "side-tuning"
    paper: ClassVar[str] = "Liu et al., ECCV 2024 (arXiv 2404.00801)"
    needs_frozen_backbone: ClassVar[bool] = True
    # deltas of format 1 (vidlift 0.1) predate the text query and drop-path: rebuilt without them
    legacy_defaults: ClassVar[dict[str, Any]] = {"text_query": False, "droppath": 0.0}
    layers: int = 4
    dims: int = 256
    heads: int = 8
    dropout: float = 0.5
    droppath: float = 0.1
    use_tef: bool = True
    fuse: bool = False
    text_query: bool = True

    def __post_init__(self) -> None:
        check_int(self.name, "layers", self.layers)
        check_int(self.name, "dims", self.dims)
        check_int(self.name, "heads", self.heads)
        if self.dims % self.heads:
            raise ValueError(f"{self.name}: dims {self.dims} is not divisible by heads {self.heads}")
        check_probability(self.name, "dropout", self.dropout)
        check_probability(self.name, "droppath", self.droppath)
        for f in ("use_tef", "fuse", "text_query"):
            check_bool(self.name, f, getattr(self, f))

    def needs_layers(self, depth: int) -> list[int]:
        return _last_blocks(depth, self.layers, 0, self.name)

    def apply(self, model: TransferModel) -> None:
        ids = self.needs_layers(model.depth)
        text = model.backbone.text_encoder if self.text_query else None
        if text is not None and text.depth < len(ids):
            ids = ids[len(ids) - text.depth:]  # both towers give the same k layers
        head = R2Head(model.width, model.embed_dim, ids, self.dims, self.heads, self.dropout, self.use_tef, self.fuse,
                      text.width if text is not None else None, self.droppath)
        model.set_role("video_head", model.place(head), f"R2 block (C={self.dims}) on blocks {ids}")


__all__ = ["R2Tuning", "R2Head", "R2Pass", "R2TemporalLayer", "sine_positions"]
