"""Transformer building blocks shared by the image and text towers, with hook points.

Every :class:`ResidualBlock` owns a :class:`HookPoints` module. Transfer paradigms add small
modules at named sites instead of forking the model; each hook is called as
``hook(x, ctx) -> x`` where ``ctx`` is the block's :class:`BlockContext`. Sites of a block::

    x ──block_in──┬─ ln_1 ─ attn_in ─ attn ─ attn_out ─(+)─┬─ ln_2 ─ mlp_in ─ mlp ─ mlp_out ─(+)─ block_out ─▶
                  └────────────────────────────────────────┘└──────────────────────────────────┘

Shapes at every site are (B·T, N, D) for the image tower (B clips of T frames, N tokens) and
(B, L, D) for the text tower. ``ctx.num_frames`` is T (``None`` for still images and text),
so a hook can fold the frame axis back out with ``x.view(-1, ctx.num_frames, N, D)``.
At ``attn_out`` / ``mlp_out`` ``ctx.branch_input`` holds the branch's normalised input (what
``attn`` / ``mlp`` saw) and ``ctx.residual`` the residual stream before the branch's norm,
which parallel adapters (AIM's joint adapter, AdaptFormer) need;
``ctx.block`` gives access to the block's own modules (AIM reuses the frozen ``attn`` along T).
Hooks may change N (prompt or message tokens) as long as they update
``ctx.num_prefix_tokens`` and restore N before the end of the tower.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from .contract import TowerBlock

if TYPE_CHECKING:
    from collections.abc import Iterable


class QuickGELU(nn.Module):
    """x·σ(1.702x): the activation OpenAI's CLIP weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def make_activation(name: str) -> nn.Module:
    if name == "gelu":
        return nn.GELU()
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if name == "quick_gelu":
        return QuickGELU()
    raise ValueError(f"unknown activation {name!r} (gelu, gelu_tanh, quick_gelu)")


@dataclass
class BlockContext:
    """What a hook may know about where it runs. Mutable: hooks may update token counts."""

    tower: str  # "visual" or "text"
    num_frames: int | None = None  # T for video input, else None
    num_prefix_tokens: int = 0  # class token + prompt / message tokens before the patches
    layer: int = -1  # index of the current block, -1 outside blocks
    block: TowerBlock | None = None  # the running block (its own attention, for reuse)
    branch_input: torch.Tensor | None = None  # normalised input of the attn / mlp branch
    residual: torch.Tensor | None = None  # residual stream entering the attn / mlp branch (before its norm)
    attn_mask: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # free room for cooperating hooks


class HookPoints(nn.Module):
    """Ordered lists of hook modules per named site; empty sites cost nothing."""

    def __init__(self, sites: Iterable[str]) -> None:
        super().__init__()
        self.sites = nn.ModuleDict({s: nn.ModuleList() for s in sites})

    def add(self, site: str, hook: nn.Module) -> nn.Module:
        if site not in self.sites:
            raise KeyError(f"unknown hook site {site!r}; sites: {', '.join(self.sites)}")
        self.sites[site].append(hook)
        return hook

    def clear(self, site: str | None = None) -> None:
        for name, _hooks in self.sites.items():
            if site is None or name == site:
                self.sites[name] = nn.ModuleList()

    def run(self, site: str, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """Pass x (the site's tensor, shape as in the module docstring) through the site's hooks in order."""
        for hook in self.sites[site]:
            x = hook(x, ctx)
        return x

    def __len__(self) -> int:
        return sum(len(h) for h in self.sites.values())


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v/out projections (so LoRA can target each).

    ``forward(x, kv=None, attn_mask=None, value=None)``: x (B, N, D) queries; kv (B, M, D)
    keys/values (defaults to x); ``value`` (B, M, D) values where they differ from the keys
    (DETR-style decoders add positions to queries and keys only); attn_mask additive,
    broadcastable to (B, heads, N, M). Returns (B, N, D). ``bias`` is that of the q/k/v
    projections; ``out_bias`` (default: ``bias``) that of the output projection (X-CLIP's
    prompt generator has biasless q/k/v and a biased output).
    """

    def __init__(self, dim: int, heads: int, bias: bool = True, out_bias: bool | None = None) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.head_dim = dim // heads
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.k_proj = nn.Linear(dim, dim, bias=bias)
        self.v_proj = nn.Linear(dim, dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias if out_bias is None else out_bias)

    def forward(
        self, x: torch.Tensor, kv: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
    ) -> torch.Tensor:
        kv = x if kv is None else kv
        value = kv if value is None else value
        b, n, d = x.shape
        m = kv.shape[1]
        q = self.q_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(kv).view(b, m, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(value).view(b, m, self.heads, self.head_dim).transpose(1, 2)
        if attn_mask is not None:
            attn_mask = attn_mask.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = make_activation(act)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


BLOCK_SITES = ("block_in", "attn_in", "attn_out", "mlp_in", "mlp_out", "block_out")


class ResidualBlock(nn.Module, TowerBlock):
    """Pre-LN transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)), with hook sites.

    As a :class:`~vidlift.backbones.contract.TowerBlock` its attention has no positional term
    (positions are added once, before the blocks), so it runs unchanged on any sequence.
    """

    def __init__(self, dim: int, heads: int, mlp_dim: int, act: str, ln_eps: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = Attention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = Mlp(dim, mlp_dim, act)
        self.hooks = HookPoints(BLOCK_SITES)
        self._design = (dim, mlp_dim, act, ln_eps)

    def replica(self, heads: int | None = None) -> ResidualBlock:
        """A new block of this design (width, MLP width, activation, norm eps) with ``heads``
        heads (default: this block's), holding a copy of this block's weights — the frozen base
        weight where PEFT wraps a Linear with LoRA, never the LoRA matrices — and no hooks.
        Modules that start as a copy of a tower's blocks use it (CLIP4Clip's seqTransf)."""
        dim, mlp_dim, act, ln_eps = self._design
        # Every weight is overwritten below: building it must not draw from the global RNG, or
        # everything a run initialises afterwards (and so its results) would shift.
        with torch.random.fork_rng(devices=[]):
            out = ResidualBlock(dim, heads or self.attn.heads, mlp_dim, act, ln_eps)
        with torch.no_grad():
            for name, mine in out.named_modules():
                source = self.get_submodule(name) if name else self
                source = getattr(source, "base_layer", source)
                for pname, p in mine.named_parameters(recurse=False):
                    p.copy_(getattr(source, pname))
        ref = self.ln_1.weight
        return out.to(device=ref.device, dtype=ref.dtype)

    # -- TowerBlock ----------------------------------------------------------------------
    @property
    def num_heads(self) -> int:
        return self.attn.heads

    def attend_sequence(self, x: torch.Tensor, who: str) -> torch.Tensor:
        return self.attn(self.ln_1(x))

    def attention_query_key(self, x: torch.Tensor, who: str) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.ln_1(x.to(self.ln_1.weight.dtype))
        q = self.attn.q_proj(h).unflatten(-1, (self.attn.heads, -1))
        k = self.attn.k_proj(h).unflatten(-1, (self.attn.heads, -1))
        return q, k

    def attention_copy(self, who: str) -> tuple[nn.Module, nn.Module]:
        dim = self.ln_1.normalized_shape[0]
        norm = nn.LayerNorm(dim, eps=self.ln_1.eps)
        norm.load_state_dict(self.ln_1.state_dict())
        attn = Attention(dim, self.attn.heads)
        with torch.no_grad():
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                source = getattr(self.attn, proj)
                source = getattr(source, "base_layer", source)  # the frozen weight under a PEFT LoRA wrapper
                getattr(attn, proj).weight.copy_(source.weight)
                getattr(attn, proj).bias.copy_(source.bias)
        return norm.to(self.ln_1.weight.dtype), attn.to(self.ln_1.weight.dtype)

    def forward(self, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """x (B, N, D) -> (B, N, D); B is B·T for video in the image tower."""
        return pre_norm_block(self, x, ctx, lambda h: self.attn(h, attn_mask=ctx.attn_mask))


def pre_norm_block(block: nn.Module, x: torch.Tensor, ctx: BlockContext,
                   attend: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The pre-norm residual block every family's blocks run, with its hook sites (module
    docstring): x + attend(ln_1(x)), then x + mlp(ln_2(x)). ``block`` has ``ln_1``, ``ln_2``,
    ``mlp`` and ``hooks``; ``attend`` is its attention on the normalised tokens (a family adds
    its own positional terms there, e.g. EVA's RoPE). x (B, N, D) -> (B, N, D)."""
    if len(block.hooks) == 0:  # fast path: a plain frozen or fully tuned block
        x = x + attend(block.ln_1(x))
        return x + block.mlp(block.ln_2(x))
    ctx.block = block
    hooks = block.hooks
    x = hooks.run("block_in", x, ctx)
    ctx.residual = x
    h = hooks.run("attn_in", block.ln_1(x), ctx)
    ctx.branch_input = h
    x = x + hooks.run("attn_out", attend(h), ctx)
    ctx.residual = x
    h = hooks.run("mlp_in", block.ln_2(x), ctx)
    ctx.branch_input = h
    x = x + hooks.run("mlp_out", block.mlp(h), ctx)
    ctx.branch_input = ctx.residual = None
    return hooks.run("block_out", x, ctx)


class Transformer(nn.Module):
    """A stack of :class:`ResidualBlock`; can return every layer's output."""

    def __init__(self, dim: int, layers: int, heads: int, mlp_dim: int, act: str, ln_eps: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ResidualBlock(dim, heads, mlp_dim, act, ln_eps) for _ in range(layers))
        self.grad_checkpointing = False

    def forward(
        self, x: torch.Tensor, ctx: BlockContext, return_layers: Iterable[int] = ()
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """x (B, N, D) -> (final x, {layer index: output of that block})."""
        wanted = set(return_layers)
        layers: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            ctx.layer = i
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = self._checkpointed(block, x, ctx)
            else:
                x = block(x, ctx)
            if i in wanted:
                layers[i] = x
        ctx.layer = -1
        return x, layers


    @staticmethod
    def _checkpointed(block: ResidualBlock, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """Run ``block`` under activation checkpointing. The backward pass re-runs the block
        later, when the shared ``ctx`` has moved on; so each run gets a fresh copy of the
        context as it was at the block's entry, and the first run's changes (prompt tokens
        added, extras) are carried forward."""
        entry = dataclasses.replace(ctx, extras=dict(ctx.extras))
        after: list[BlockContext] = []

        def run(inp: torch.Tensor) -> torch.Tensor:
            local = dataclasses.replace(entry, extras=dict(entry.extras))
            out = block(inp, local)
            after.append(local)
            return out

        x = torch.utils.checkpoint.checkpoint(run, x, use_reentrant=False)
        ctx.num_prefix_tokens = after[0].num_prefix_tokens
        ctx.extras = after[0].extras
        ctx.attn_mask = after[0].attn_mask
        return x


def normalize_layers(spec: Iterable[int] | str | None, depth: int) -> list[int]:
    """Turn ``"all"``, ``None`` or indices (negative allowed) into sorted block indices."""
    if spec is None:
        return []
    if isinstance(spec, str):
        if spec == "all":
            return list(range(depth))
        raise ValueError(f"layers must be 'all' or integers, got {spec!r}")
    out = set()
    for i in spec:
        j = i + depth if i < 0 else i
        if not 0 <= j < depth:
            raise ValueError(f"layer {i} out of range for a {depth}-block tower")
        out.add(j)
    return sorted(out)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Small-normal init for from-scratch training (pretrained weights overwrite it)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=std / math.sqrt(2))
