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
from .contract import TextEncoder
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
        return_layers: list[int] | str | None = None,
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


class ClipTextEncoder(TextEncoder):
    """The text side of a CLIP-family model as a :class:`~vidlift.backbones.contract.TextEncoder`:
    the tower plus the projection into the joint space. A view, not a module: it owns nothing."""

    def __init__(self, tower: TextTransformer, proj: nn.Module) -> None:
        self.tower, self.proj = tower, proj
        self.context_length = tower.cfg.context_length
        self.width = tower.cfg.width
        self.depth = len(tower.blocks)
        self.pad_token_id = tower.cfg.pad_token_id

    def encode(self, input_ids: torch.Tensor, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(self.tower(input_ids, inputs_embeds=inputs_embeds).pooled)

    def features(self, input_ids: torch.Tensor, layers: list[int] | str | None = None) -> TextOutput:
        return self.tower(input_ids, return_layers=layers)

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.tower.token_embedding(input_ids)

    @property
    def token_embedding_weight(self) -> torch.Tensor:
        return self.tower.token_embedding.weight

    def pool_index(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.tower.pool_index(input_ids)

    def end_index(self, input_ids: torch.Tensor) -> torch.Tensor:
        cfg = self.tower.cfg
        if cfg.pool == "argmax":  # end-of-text has the largest id
            return input_ids.argmax(1)
        eos = input_ids == cfg.eos_token_id
        return torch.where(eos.any(1), eos.int().argmax(1), torch.full_like(input_ids[:, 0], input_ids.shape[1] - 1))

    def truncate(self, input_ids: torch.Tensor, max_tokens: int) -> torch.Tensor:
        if max_tokens >= input_ids.shape[1]:
            return input_ids
        end = self.end_index(input_ids)
        long = end >= max_tokens
        out = input_ids.clone()
        out[long, max_tokens - 1] = input_ids[long, end[long]]
        out[long, max_tokens:] = self.tower.cfg.pad_token_id
        return out

    def transformer_init(self, width: int, layers: int, heads: int) -> tuple[torch.Tensor, list[nn.Module]] | None:
        cfg = self.tower.cfg
        if cfg.width != width or cfg.mlp_dim != 4 * width or len(self.tower.blocks) < layers:
            return None
        return self.tower.pos_embed.detach().clone(), [b.replica(heads) for b in list(self.tower.blocks)[:layers]]
