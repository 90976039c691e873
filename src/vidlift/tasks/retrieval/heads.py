"""Similarity heads for text-video retrieval.

The default head needs no module: a video's embedding comes from the transfer model's video
head (mean pooling = CLIP4Clip's *meanP*, the ``temporal_transformer`` strategy = its
*seqTransf*) and is compared with the caption's embedding by scaled cosine similarity.

:class:`XPoolHead` is X-Pool (Gorti, Vouitsis, Ma, Golestan, Volkovs, Garg & Yu, "X-Pool:
Cross-Modal Language-Video Attention for Text-Video Retrieval", CVPR 2022;
github.com/layer6ai-labs/xpool, ``modules/transformer.py``): the video embedding is pooled from
its frame embeddings *for a given text*, by scaled dot-product attention in which the text is
the query and the frames are keys and values, so every (text, video) pair has its own video
embedding::

    t, f   = LN1(text (M, E)), LN1(frames (B, T, E))            # one LayerNorm for both
    a      = LN2(W_o · softmax((W_q t)(W_k f)^T / sqrt(d)) (W_v f))   # (B, M, E), per head
    pooled = LN3(a + Dropout(W_p a))                           # residual linear projection
    sim[b, m] = cos(text[m], pooled[b, m])                     # the raw, un-normalised text

All linear maps start as the identity with zero bias (X-Pool's ``_init_parameters``); X-Pool
uses one head and dropout 0.3. The cross attention is vidlift's one attention module
(:class:`vidlift.backbones.layers.Attention`, the texts as queries, ``kv=`` the frames): X-Pool's
``MultiHeadedAttention`` is the same maths (separate q/k/v/out projections with biases, softmax
of q·k / sqrt(d) over the frames).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...backbones.layers import Attention


class XPoolHead(nn.Module):
    """X-Pool's text-conditioned pooling (see the module docstring).

    ``forward(text (M, E), frames (B, T, E)) -> pooled (B, M, E)``;
    ``similarity(text, frames) -> (B, M)`` cosine similarities;
    ``similarity_matrix(text, frames) -> (M, B)`` the same in chunks, for whole test sets.
    """

    def __init__(self, dim: int, heads: int = 1, dropout: float = 0.3) -> None:
        super().__init__()
        if heads < 1 or dim % heads:
            raise ValueError(f"embedding width {dim} is not divisible into {heads} heads")
        self.cross_attn = Attention(dim, heads)
        self.linear_proj = nn.Linear(dim, dim)
        self.layer_norm1 = nn.LayerNorm(dim)
        self.layer_norm2 = nn.LayerNorm(dim)
        self.layer_norm3 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        for name, p in self.named_parameters():
            if "proj" in name:
                if p.ndim == 2:
                    nn.init.eye_(p)
                else:
                    nn.init.zeros_(p)

    def forward(self, text: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        if text.ndim != 2 or frames.ndim != 3 or text.shape[-1] != frames.shape[-1]:
            raise ValueError(f"expected text (M, E) and frames (B, T, E), got {tuple(text.shape)} and "
                             f"{tuple(frames.shape)}")
        text, frames = self.layer_norm1(text), self.layer_norm1(frames)
        queries = text.expand(frames.shape[0], *text.shape)  # (B, M, E): every video's copy of the texts
        a = self.layer_norm2(self.cross_attn(queries, kv=frames))
        return self.layer_norm3(a + self.dropout(self.linear_proj(a)))

    def similarity(self, text: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of text m and video b's text-m-specific embedding -> (B, M)."""
        pooled = self(text, frames)
        return torch.einsum("me,bme->bm", F.normalize(text.to(pooled.dtype), dim=-1), F.normalize(pooled, dim=-1))

    @torch.no_grad()
    def similarity_matrix(self, text: torch.Tensor, frames: torch.Tensor, max_pairs: int = 65536) -> torch.Tensor:
        """(M, N) cosine similarities of all texts and videos, ``max_pairs`` (text, video)
        pooled embeddings at a time; float32 on the inputs' device."""
        p = next(self.parameters())
        m, n = text.shape[0], frames.shape[0]
        out = torch.empty(m, n, dtype=torch.float32, device=text.device)
        vids = max(1, min(n, max_pairs))
        texts = max(1, max_pairs // vids)
        for i in range(0, m, texts):
            t = text[i : i + texts].to(device=p.device, dtype=p.dtype)
            for j in range(0, n, vids):
                f = frames[j : j + vids].to(device=p.device, dtype=p.dtype)
                out[i : i + texts, j : j + vids] = self.similarity(t, f).t().float().to(out.device)
        return out


__all__ = ["XPoolHead"]
