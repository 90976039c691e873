"""The text tower: a (causal, for CLIP) transformer over token embeddings.

Token embeddings are replaceable, for text prompt tuning (CoOp-style context vectors):
either pass ``inputs_embeds`` (B, L, D) directly, or add a module at the tower's ``embed``
hook site, called as ``hook(embeds, ctx)`` with ``ctx.extras["input_ids"]`` (B, L) set, so
a hook can find placeholder tokens. ``input_ids`` are still used to find the pooled position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .config import TextConfig
from .layers import BlockContext, HookPoints, Transformer, normalize_layers


@dataclass
class TextOutput:
    """pooled: (B, D) sentence embedding before the projection; tokens: (B, L, D) after
    ``ln_final``; layers: {block index: (B, L, D)}."""

    pooled: torch.Tensor
    tokens: torch.Tensor
    layers: dict[int, torch.Tensor] = field(default_factory=dict)


class TextTransformer(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.pos_embed = nn.Parameter(torch.zeros(cfg.context_length, cfg.width))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.01)
        self.transformer = Transformer(cfg.width, cfg.layers, cfg.heads, cfg.mlp_dim, cfg.act, cfg.ln_eps)
        self.ln_final = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.hooks = HookPoints(("embed", "out"))
        mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu(1)
        self.register_buffer("causal_mask", mask, persistent=False)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.blocks

    def pool_index(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Position (B,) of the token whose final state is the sentence embedding."""
        if self.cfg.pool == "argmax":
            return input_ids.argmax(dim=-1)
        if self.cfg.pool == "eos":
            return (input_ids == self.cfg.eos_token_id).int().argmax(dim=-1)
        return torch.full_like(input_ids[:, 0], input_ids.shape[1] - 1)

    def forward(
        self,
        input_ids: torch.Tensor,
        inputs_embeds: torch.Tensor | None = None,
        return_layers: "list[int] | str | None" = None,
    ) -> TextOutput:
        """input_ids (B, L) with L ≤ context_length -> :class:`TextOutput`."""
        length = input_ids.shape[1]
        if length > self.cfg.context_length:
            raise ValueError(f"text of {length} tokens exceeds the context length {self.cfg.context_length}")
        ctx = BlockContext("text")
        ctx.extras["input_ids"] = input_ids
        x = self.token_embedding(input_ids) if inputs_embeds is None else inputs_embeds
        x = self.hooks.run("embed", x, ctx)
        x = x + self.pos_embed[: x.shape[1]].to(x.dtype)
        if self.cfg.causal:
            ctx.attn_mask = self.causal_mask[: x.shape[1], : x.shape[1]]
        wanted = normalize_layers(return_layers, len(self.blocks))
        x, layers = self.transformer(x, ctx, wanted)
        x = self.ln_final(x)
        x = self.hooks.run("out", x, ctx)
        pooled = x[torch.arange(x.shape[0], device=x.device), self.pool_index(input_ids)]
        return TextOutput(pooled=pooled, tokens=x, layers=layers)
