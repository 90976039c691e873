"""The caption decoder: a transformer decoder over transferred per-frame video embeddings.

CLIP4Caption (Tang et al., "CLIP4Caption: CLIP for Video Caption", ACM MM 2021, arXiv
2110.06615) feeds CLIP frame features of a video-text-matching-tuned CLIP to UniVL's caption
model (Luo et al., arXiv 2002.06353; ``microsoft/UniVL`` ``modules/module_decoder.py``): a small
transformer encoder over the frame sequence, then a BERT-style decoder whose layers are
post-norm (self-attention, cross-attention to the video, GELU feed-forward, each with residual
and LayerNorm), word + position embeddings with LayerNorm and dropout, and an output head
(dense, GELU, LayerNorm, then a projection tied to the word table plus a bias). The CLIP4Caption
reproduction (Sejong-VLI/V2T-CLIP4Caption-Reproduction, ``scripts/train_msrvtt.sh``) uses 2
encoder and 2 decoder layers, 20 frames and 48 words.

Shapes: frames (B, T, E) -> :meth:`CaptionDecoder.encode` -> memory (B, T, W);
tokens (N, L) + memory (N, T, W) -> :meth:`CaptionDecoder.forward` -> logits (N, L, V).

Where vidlift departs, and why:

- The word table has the backbone tokenizer's vocabulary and is initialised from a *copy* of
  the text tower's token table (UniVL shares BERT's table with its text encoder and trains it
  jointly). Sharing the backbone's tensor would make a frozen backbone parameter train, against
  the transfer axis' declarations; the copy is the decoder's own (``word_init: random`` starts
  it from N(0, 0.02) instead). Input and output embeddings stay tied, as in UniVL. The table is
  most of the decoder's parameters: vocabulary × width (49,408 × 512 = 25.3M for CLIP ViT-B).
- The decoder width defaults to the text tower's width (so the table can be copied), not to
  BERT's 768.
- Layers are :class:`torch.nn.TransformerDecoderLayer` / ``EncoderLayer`` with
  ``norm_first=False`` and GELU (the same post-norm computation as UniVL's hand-written layers,
  whose feed-forward is 4 × width).
"""

from __future__ import annotations

import torch
from torch import nn


class CaptionDecoder(nn.Module):
    """Video encoder + caption decoder (module docstring).

    Args:
        vocab_size: tokens of the tokenizer (V).
        video_dim: width of the per-frame video embeddings (E).
        width: decoder width (W). heads: attention heads (W must divide by it).
        layers: decoder layers. encoder_layers: transformer layers over the frames (0: none).
        max_frames: frames the frame position table covers. max_positions: caption positions.
        dropout: of embeddings, attention and feed-forward (UniVL: 0.1).
        word_table: (V', W) tensor whose first V rows initialise the word table (copied).
    """

    def __init__(self, vocab_size: int, video_dim: int, width: int, heads: int = 8, layers: int = 2,
                 encoder_layers: int = 2, max_frames: int = 64, max_positions: int = 77, dropout: float = 0.1,
                 word_table: torch.Tensor | None = None) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"caption decoder: width {width} is not divisible by heads {heads}")
        if layers < 1 or encoder_layers < 0:
            raise ValueError(f"caption decoder: layers must be >= 1 and encoder_layers >= 0, got {layers}, "
                             f"{encoder_layers}")
        self.width, self.max_frames, self.max_positions = width, max_frames, max_positions
        # Video side: project the frame embeddings, add frame positions (UniVL's visual embeddings).
        self.video_proj = nn.Linear(video_dim, width)
        self.frame_pos = nn.Embedding(max_frames, width)
        self.video_norm = nn.LayerNorm(width, eps=1e-12)
        self.video_drop = nn.Dropout(dropout)
        enc = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, activation="gelu", batch_first=True,
                                         norm_first=False, layer_norm_eps=1e-12)
        self.encoder = (nn.TransformerEncoder(enc, encoder_layers, enable_nested_tensor=False) if encoder_layers
                        else None)
        # Text side.
        self.word = nn.Embedding(vocab_size, width)
        self.pos = nn.Embedding(max_positions, width)
        self.embed_norm = nn.LayerNorm(width, eps=1e-12)
        self.embed_drop = nn.Dropout(dropout)
        dec = nn.TransformerDecoderLayer(width, heads, 4 * width, dropout, activation="gelu", batch_first=True,
                                         norm_first=False, layer_norm_eps=1e-12)
        self.decoder = nn.TransformerDecoder(dec, layers)
        self.head_dense = nn.Linear(width, width)
        self.head_act = nn.GELU()
        self.head_norm = nn.LayerNorm(width, eps=1e-12)
        self.out_bias = nn.Parameter(torch.zeros(vocab_size))
        self.apply(self._init)
        if word_table is not None:
            if word_table.shape[0] < vocab_size or word_table.shape[1] != width:
                raise ValueError(f"caption decoder: the word table to copy is {tuple(word_table.shape)}, needs at "
                                 f"least {vocab_size} rows of width {width}")
            with torch.no_grad():
                self.word.weight.copy_(word_table[:vocab_size].detach().float())

    @staticmethod
    def _init(m: nn.Module) -> None:
        # BERT's initialisation, which UniVL's decoder applies (normal 0.02, zero bias, unit LayerNorm).
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame embeddings (B, T, E) -> video memory (B, T, W)."""
        t = frames.shape[1]
        if t > self.max_frames:
            raise ValueError(f"caption decoder: {t} frames, but its frame positions cover {self.max_frames}")
        x = self.video_proj(frames.to(self.video_proj.weight.dtype))
        x = self.video_drop(self.video_norm(x + self.frame_pos.weight[:t]))
        return self.encoder(x) if self.encoder is not None else x

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Tokens (N, L) attending causally to each other and to memory (N, T, W) -> logits (N, L, V)."""
        n, length = tokens.shape
        if length > self.max_positions:
            raise ValueError(f"caption decoder: {length} tokens, but its positions cover {self.max_positions}")
        x = self.embed_drop(self.embed_norm(self.word(tokens) + self.pos.weight[:length]))
        causal = torch.triu(torch.full((length, length), float("-inf"), device=tokens.device), diagonal=1)
        h = self.decoder(x, memory, tgt_mask=causal, tgt_is_causal=True)
        h = self.head_norm(self.head_act(self.head_dense(h)))
        return h @ self.word.weight.t() + self.out_bias


__all__ = ["CaptionDecoder"]
