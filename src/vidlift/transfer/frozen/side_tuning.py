"""Side-tuning: a light network beside the frozen image tower reads its intermediate tokens;
no gradient flows through the backbone (the survey's "side-tuning" family). Two video heads,
each a :class:`~vidlift.transfer.base.Strategy` filling the ``video_head`` role:

- :class:`EVL` (here) — a transformer decoder whose one learned query attends, layer by layer,
  to the last frozen layers' tokens of all frames, with local temporal modules (Lin et al. 2022);
- :class:`~vidlift.transfer.frozen.r2_tuning.R2Tuning` (:mod:`.r2_tuning`) — a recurrent side
  block that pools every clip's tokens of the last frozen layers with the text query's tokens
  of the same layers, from the last layer back to earlier ones, refining a per-clip state with
  temporal attention (Liu et al. 2024).

Both declare ``needs_layers``: the model then returns those block outputs as
``VideoFeatures.layers[i]`` (B, T, N, D) — the raw residual stream of block i, computed without
autograd — and they train from cached features. ``needs_frozen_backbone`` is True: combining
them with a strategy that trains inside the backbone raises ``TransferCompositionError``.

Both papers end in their own task heads (EVL: a linear classifier; R²-Tuning: grounding heads
in a 256-d space). Here the video head must give an embedding in the backbone's joint space,
so each ends in a linear map to E. By default (``fuse=False``) that map alone gives the
embedding, as the papers' heads see only the side network's output: neither EVL's
``EVLTransformer.forward`` (decoder, then its ``proj`` classifier) nor R²-Tuning's
``R2Tuning.forward`` (adapter, then pyramid and heads) adds CLIP's projected frame embedding
back. ``fuse=True`` is vidlift's own option: the map is zero-initialised and added to the mean
of the frozen frame embeddings, so the model starts exactly as CLIP's zero-shot meanP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...backbones.contract import TowerBlock
from ...backbones.layers import Attention, make_activation
from ..base import Strategy, TransferCompositionError, VideoFeatures
from ..checks import check_bool, check_int, check_number, check_probability
from ..model import TransferModel


def _layer(features: VideoFeatures, i: int, who: str) -> torch.Tensor:
    if i not in features.layers:
        raise KeyError(f"{who} reads frozen block {i}'s tokens but the features hold blocks "
                       f"{sorted(features.layers)}; side networks need the backbone's own image tower "
                       "(not a distillation student) or a cache filled with their layers")
    return features.layers[i]


def _resize_table(table: torch.Tensor, t: int) -> torch.Tensor:
    """(F, D) learned per-frame table -> (t, D): itself when t == F, else linearly resized."""
    if t == table.shape[0]:
        return table
    return F.interpolate(table.t()[None], size=t, mode="linear", align_corners=True)[0].t()


def _last_blocks(depth: int, layers: int, reserve: int, who: str) -> list[int]:
    """The last ``layers`` block indices, leaving ``reserve`` earlier blocks available."""
    if layers < 1:
        raise TransferCompositionError(f"{who}: layers must be positive, got {layers}")
    k = min(layers, depth - reserve)
    if k < 1:
        raise TransferCompositionError(f"{who}: a {depth}-block image tower is too shallow")
    return list(range(depth - k, depth))


# -- EVL ---------------------------------------------------------------------------------------
class TemporalCrossAttention(nn.Module):
    """EVL's temporal cross attention: the frozen attention maps between a frame's patches and
    the previous / next frame's patches, turned into features by learned tables over relative
    2-D offsets. For patch q of frame t::

        out[t, q] = Σ_k A(q_t, k_{t−1})[q, k] · w1[offset(q, k)] + Σ_k A(q_t, k_{t+1})[q, k] · w2[offset(q, k)]

    A = softmax over k of q·k/√d, averaged over heads, with the frozen block's own q and k.
    w1, w2: ((2h−1)(2w−1), D), zero-initialised as in EVL. Prefix tokens (class token) get
    zeros; the first / last frame lack the previous / next term. Summing the attention per
    offset before the table lookup gives EVL's result without its (P, P, D) unrolled table.

    ``forward(q, k, prefix)``: q, k (B, T, N, H, d) -> (B, T, N, D).
    """

    def __init__(self, grid: tuple[int, int], dim: int) -> None:
        super().__init__()
        gh, gw = grid
        self.grid = grid
        self.w1 = nn.Parameter(torch.zeros((2 * gh - 1) * (2 * gw - 1), dim))
        self.w2 = nn.Parameter(torch.zeros((2 * gh - 1) * (2 * gw - 1), dim))
        qi, qj = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
        qi, qj = qi.flatten(), qj.flatten()
        idx = (qi[:, None] - qi[None, :] + gh - 1) * (2 * gw - 1) + (qj[:, None] - qj[None, :] + gw - 1)
        self.register_buffer("offset_index", idx, persistent=False)  # (P, P): relative-offset id of (q, k)

    def _half(self, q: torch.Tensor, k: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        attn = torch.einsum("btqhd,btkhd->btqkh", q * q.shape[-1] ** -0.5, k).softmax(dim=-2).mean(-1)  # (B, T, P, P)
        per_offset = attn.new_zeros(*attn.shape[:3], w.shape[0])
        per_offset.scatter_add_(-1, self.offset_index.expand_as(attn), attn)  # (B, T, P, R)
        return per_offset @ w.to(attn.dtype)

    def forward(self, q: torch.Tensor, k: torch.Tensor, prefix: int) -> torch.Tensor:
        b, t, n = q.shape[:3]
        p = self.grid[0] * self.grid[1]
        if n - prefix != p:
            raise ValueError(f"evl: temporal cross attention was built for a {self.grid[0]}x{self.grid[1]} patch grid, "
                             f"got {n - prefix} patch tokens")
        q, k = q[:, :, prefix:].float(), k[:, :, prefix:].float()
        out = q.new_zeros(b, t, p, self.w1.shape[1])
        if t > 1:
            out = out + F.pad(self._half(q[:, 1:], k[:, :-1], self.w1), (0, 0, 0, 0, 1, 0))
            out = out + F.pad(self._half(q[:, :-1], k[:, 1:], self.w2), (0, 0, 0, 0, 0, 1))
        return torch.cat([out.new_zeros(b, t, prefix, out.shape[-1]), out], dim=2)


class EVLDecoderLayer(nn.Module):
    """x + attn(norm1(x), norm3(y)), then x + mlp(norm2(x)): the query x (B, 1, D) reads the
    tokens y (B, T·N, D). MLP D -> mlp_factor·D -> D with QuickGELU and dropout, as EVL's
    ``TransformerDecoderLayer``; Xavier-uniform projections, MLP biases normal(1e-6) as there."""

    def __init__(self, dim: int, heads: int, mlp_factor: float, dropout: float) -> None:
        super().__init__()
        hidden = round(mlp_factor * dim)
        self.attn = Attention(dim, heads)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), make_activation("quick_gelu"), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim))
        for m in (self.attn.q_proj, self.attn.k_proj, self.attn.v_proj, self.attn.out_proj):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        for m in (self.mlp[0], self.mlp[3]):
            nn.init.xavier_uniform_(m.weight)
            nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), kv=self.norm3(y))
        return x + self.mlp(self.norm2(x))


class EVLHead(nn.Module):
    """EVL's decoder as a video head: features -> (B, E).

    For each read block i (ascending; ``layer_ids``), its tokens f (B, T, N, D) get the local
    temporal modules added — depth-wise Conv1d(k=3) over T on every token, a learned temporal
    position embedding (T × D, zeros), temporal cross attention from block i's frozen q / k —
    then decoder layer j lets the query attend to all T·N tokens. The query's output goes
    through LayerNorm, dropout and a linear map D -> E (EVL's classifier, here into the joint
    space); :meth:`encode` also gives the normed query output as ``pre_projection``. Frozen
    blocks (for q / k, :class:`~vidlift.backbones.contract.TowerBlock`) are held in a plain
    list, so they are not parameters of the head.
    """

    def __init__(self, width: int, embed_dim: int, layer_ids: list[int], heads: int, mlp_factor: float,
                 mlp_dropout: float, cls_dropout: float, num_frames: int, grid: tuple[int, int],
                 temporal_conv: bool, temporal_pos_embed: bool, cross_blocks: list[TowerBlock] | None,
                 fuse: bool) -> None:
        super().__init__()
        k, d = len(layer_ids), width
        self.layer_ids = layer_ids
        self.fuse = fuse
        # Zeros, as the reference's query (EVLDecoder.cls_token) starts: its _initialize_weights
        # (normal 0.02) is never called.
        self.query = nn.Parameter(torch.zeros(d))
        self.decoder = nn.ModuleList(EVLDecoderLayer(d, heads, mlp_factor, mlp_dropout) for _ in range(k))
        # EVL keeps PyTorch's default init for the depth-wise temporal convolutions.
        self.temporal_conv = (nn.ModuleList(nn.Conv1d(d, d, 3, padding=1, groups=d) for _ in range(k))
                              if temporal_conv else None)
        self.temporal_pos_embed = (nn.ParameterList(nn.Parameter(torch.zeros(num_frames, d)) for _ in range(k))
                                   if temporal_pos_embed else None)
        self.cross_attention = (nn.ModuleList(TemporalCrossAttention(grid, d) for _ in range(k))
                                if cross_blocks is not None else None)
        self._cross_blocks = list(cross_blocks or [])  # frozen backbone blocks: a list, not submodules
        self.proj = nn.Sequential(nn.LayerNorm(d), nn.Dropout(cls_dropout), nn.Linear(d, embed_dim))
        if fuse:  # start as the frozen meanP (our joint-space adaptation; see the module docstring)
            nn.init.zeros_(self.proj[2].weight)
            nn.init.zeros_(self.proj[2].bias)

    @torch.no_grad()
    def frozen_qk(self, j: int, x_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q, k (B, T, N, H, d) of frozen block ``layer_ids[j]``'s attention, from its input
        x_in (B, T, N, D) (the previous block's output), norm applied: the block's own
        ``attention_query_key``."""
        return self._cross_blocks[j].attention_query_key(x_in, who="evl")

    def encode(self, features: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """features -> (embedding (B, E), pre_projection (B, D)). ``pre_projection`` is the
        decoder's query output after EVL's LayerNorm (``proj[0]``), i.e. what the reference's
        classifier feeds to its Dropout(0.5) and Linear(D, classes)."""
        pre = self.proj[0](self.decode(features))
        out = self.proj[2](self.proj[1](pre))
        if self.fuse:
            out = out + features.frames.to(out.dtype).mean(1)
        return out, pre

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        return self.encode(features)[0]

    def decode(self, features: VideoFeatures) -> torch.Tensor:
        """The decoder's query output (B, D), before EVL's LayerNorm / Dropout / Linear."""
        dtype = self.query.dtype
        first = _layer(features, self.layer_ids[0], "evl")
        b, t, n, d = first.shape
        x = self.query.view(1, 1, d).expand(b, 1, d)
        for j, i in enumerate(self.layer_ids):
            f = _layer(features, i, "evl").to(dtype)
            y = f
            if self.temporal_conv is not None:
                seq = f.permute(0, 2, 3, 1).reshape(b * n, d, t)  # every token's sequence over T
                y = y + self.temporal_conv[j](seq).view(b, n, d, t).permute(0, 3, 1, 2)
            if self.temporal_pos_embed is not None:
                y = y + _resize_table(self.temporal_pos_embed[j], t)[None, :, None, :]
            if self.cross_attention is not None:
                q, k = self.frozen_qk(j, _layer(features, i - 1, "evl"))
                y = y + self.cross_attention[j](q, k, features.num_prefix_tokens).to(dtype)
            x = self.decoder[j](x, y.flatten(1, 2))
        return x[:, 0]


@dataclass
class EVL(Strategy):
    """EVL (Lin et al., "Frozen CLIP Models are Efficient Video Learners", ECCV 2022;
    github.com/OpenGVLab/efficient-video-recognition, ``model.py``). A side transformer decoder
    on the frozen image tower: one learned query token attends, in decoder layer j, to all
    frames' tokens of the j-th of the last ``layers`` frozen blocks (raw block outputs, class
    token included). Before that, each block's tokens get EVL's local temporal modules: a
    depth-wise temporal Conv1d (k=3), a learned temporal position embedding (zero-init) and
    the temporal cross attention (attention maps between adjacent frames from the frozen
    block's own q / k, mapped through relative-offset tables; zero-init).

    Defaults are the reference's ViT-B/16 recipe: 4 decoder layers of width D (the backbone
    width), D // 64 heads (``heads``), MLP factor 4 with dropout 0.5, dropout 0.5 before the
    output layer, the query starting at zero. The output layer maps the query (LayerNorm,
    D -> E) into the joint space; the normed query (D) is the video output's
    ``pre_projection``, which a pre-projection recognition head classifies as EVL's classifier
    does. ``fuse`` (default False: in neither EVL's paper nor its code) adds the output to the
    frozen mean frame embedding, zero-initialised so that training starts as meanP. Only the
    side network trains (33.27M parameters at ViT-B/16, 8 frames, with the D -> 512 output
    layer). Works without a class token (SigLIP: every token is a patch).

    The temporal cross attention needs block i's q / k, computed from block i−1's output, so
    one extra earlier block is read (the feature cache holds ``layers`` + 1 blocks); on a tower
    of ``layers`` blocks or fewer the decoder gets depth − 1 layers. The q / k come from the
    contract (``TowerBlock.attention_query_key``, at the tower's native token layout); a
    backbone that cannot give them refuses when the model is built.
    """

    name: ClassVar[str] = "evl"
    family: ClassVar[str] = "side-tuning"
    paper: ClassVar[str] = "Lin et al., ECCV 2022 (arXiv 2208.03550)"
    needs_frozen_backbone: ClassVar[bool] = True
    layers: int = 4
    heads: int | None = None
    mlp_factor: float = 4.0
    mlp_dropout: float = 0.5
    cls_dropout: float = 0.5
    temporal_conv: bool = True
    temporal_pos_embed: bool = True
    temporal_cross_attention: bool = True
    fuse: bool = False

    def __post_init__(self) -> None:
        check_int(self.name, "layers", self.layers)
        check_int(self.name, "heads", self.heads, optional=True)
        check_number(self.name, "mlp_factor", self.mlp_factor, low=0.0, low_open=True)
        check_probability(self.name, "mlp_dropout", self.mlp_dropout)
        check_probability(self.name, "cls_dropout", self.cls_dropout)
        for f in ("temporal_conv", "temporal_pos_embed", "temporal_cross_attention", "fuse"):
            check_bool(self.name, f, getattr(self, f))

    def _read(self, depth: int) -> list[int]:
        return _last_blocks(depth, self.layers, 1 if self.temporal_cross_attention else 0, self.name)

    def needs_layers(self, depth: int) -> list[int]:
        ids = self._read(depth)
        return ([ids[0] - 1] if self.temporal_cross_attention else []) + ids

    def apply(self, model: TransferModel) -> None:
        d = model.width
        heads = self.heads or max(1, d // 64)
        if d % heads:
            raise TransferCompositionError(f"{self.name}: width {d} is not divisible by {heads} heads")
        ids = self._read(model.depth)
        bb = model.backbone
        layout = bb.token_layout
        blocks = None
        if self.temporal_cross_attention:
            blocks = [bb.vision_block(i) for i in ids]
            probe = torch.zeros(1, layout.num_tokens, d, device=bb.device, dtype=bb.dtype)
            with torch.no_grad():  # refuse now, not in the first forward pass
                for block in blocks:
                    block.attention_query_key(probe, who=self.name)
        head = EVLHead(d, model.embed_dim, ids, heads, self.mlp_factor, self.mlp_dropout, self.cls_dropout,
                       model.num_frames, layout.grid, self.temporal_conv, self.temporal_pos_embed, blocks, self.fuse)
        model.set_role("video_head", model.place(head), f"EVL decoder {len(ids)}x{d} on blocks {ids}")


__all__ = ["EVL", "EVLHead", "TemporalCrossAttention"]
