"""EVA02's image tower with the frame axis and the hook sites of vidlift's CLIP tower.

Input is images (B, C, H, W) or clips (B, T, C, H, W); clips run as B·T images and every
block receives ``ctx.num_frames = T``. Hook sites are those of
:mod:`vidlift.backbones.layers`: per block ``block_in, attn_in, attn_out, mlp_in, mlp_out,
block_out`` (``attn_in`` / ``mlp_in`` see the pre-norms' outputs, ``ctx.branch_input`` and
``ctx.residual`` are set as in CLIP), and tower sites ``embed`` (tokens after patch + position
embedding, where prompts are prepended) and ``out`` (final tokens after ``ln_post``).

RoPE rotates the patch tokens, which are the *last* gh·gw tokens of the sequence: hooks that
prepend tokens (prompts, X-CLIP messages) and raise ``ctx.num_prefix_tokens`` leave it
correct; a block checks that the tokens after ``ctx.num_prefix_tokens`` are exactly the patch
grid before it rotates them.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..contract import BackboneCapabilityError, TowerBlock
from ..layers import BLOCK_SITES, BlockContext, HookPoints, Transformer, normalize_layers, pre_norm_block
from ..vision import VisionOutput, frames_as_images, tower_output
from .config import EvaVisionConfig
from .rope import apply_rope, rope_table

Rope = tuple[torch.Tensor, torch.Tensor]  # (cos, sin), each (patches, head_dim)


class EvaAttention(nn.Module):
    """EVA02's multi-head attention: q / k / v projections (the key without bias), RoPE on
    the patch tokens of q and k, and a LayerNorm (sub-LN) on the merged heads before the
    output projection.

    ``forward(x, kv=None, attn_mask=None, rope=None)``: x (B, N, D) queries, kv (B, M, D)
    keys / values (defaults to x), attn_mask additive, broadcastable to (B, heads, N, M);
    ``rope`` (cos, sin) rotates the last P tokens of q and k (self-attention only). -> (B, N, D).
    Without ``rope`` the signature and meaning are those of
    :class:`vidlift.backbones.layers.Attention`.
    """

    def __init__(self, dim: int, heads: int, ln_eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.sub_norm = nn.LayerNorm(dim, eps=ln_eps)
        self.out_proj = nn.Linear(dim, dim)

    def query_key(self, x: torch.Tensor, kv: torch.Tensor, rope: Rope | None) -> tuple[torch.Tensor, torch.Tensor]:
        """q (B, heads, N, d) from x and k (B, heads, M, d) from kv, rotated by ``rope``."""
        q = self.q_proj(x).unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)
        k = self.k_proj(kv).unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)
        if rope is not None:
            q, k = rotate_patches(q, rope), rotate_patches(k, rope)
        return q, k

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                rope: Rope | None = None) -> torch.Tensor:
        if rope is not None and kv is not None:
            raise ValueError("RoPE applies to self-attention only (kv must be None)")
        kv = x if kv is None else kv
        q, k = self.query_key(x, kv, rope)
        v = self.v_proj(kv).unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)
        if attn_mask is not None:
            attn_mask = attn_mask.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out_proj(self.sub_norm(out.transpose(1, 2).flatten(2)))


def rotate_patches(t: torch.Tensor, rope: Rope) -> torch.Tensor:
    """Rotate the last P tokens of t (..., N, d) by the table (P, d); the first N − P stay."""
    cos, sin = rope
    p = cos.shape[0]
    return torch.cat([t[..., :-p, :], apply_rope(t[..., -p:, :], cos, sin)], dim=-2)


class SwiGluMlp(nn.Module):
    """EVA02's MLP: fc2(LN(SiLU(fc1_g(x)) · fc1_x(x))) — a SiLU-gated linear unit (Shazeer,
    "GLU Variants Improve Transformer", 2020) with a LayerNorm (sub-LN) on the hidden units."""

    def __init__(self, dim: int, hidden: int, ln_eps: float) -> None:
        super().__init__()
        self.fc1_g = nn.Linear(dim, hidden)
        self.fc1_x = nn.Linear(dim, hidden)
        self.sub_norm = nn.LayerNorm(hidden, eps=ln_eps)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.sub_norm(F.silu(self.fc1_g(x)) * self.fc1_x(x)))


class EvaBlock(nn.Module, TowerBlock):
    """Pre-LN EVA02 block: x + attn(ln_1(x), RoPE), then x + mlp(ln_2(x)), with hook sites.

    As a :class:`~vidlift.backbones.contract.TowerBlock` its attention carries a positional
    term (RoPE) that the CLIP block's lacks. Along time that term vanishes exactly: every
    element of a sequence of one token position over T frames gets the same rotation R, and
    (Rq)·(Rk) = q·k, while values are never rotated. So :meth:`attend_sequence` and
    :meth:`attention_copy` run the attention without RoPE, which is the block's own attention
    for such sequences; :meth:`attention_query_key` returns q and k with RoPE (the patches of
    one frame attending to another's).
    """

    def __init__(self, cfg: EvaVisionConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.attn = EvaAttention(cfg.width, cfg.heads, cfg.ln_eps)
        self.ln_2 = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.mlp = SwiGluMlp(cfg.width, cfg.mlp_dim, cfg.ln_eps)
        self.hooks = HookPoints(BLOCK_SITES)
        # The native patch grid and RoPE settings, for attention_query_key outside a forward.
        self._rope_args = ((cfg.grid_size, cfg.grid_size), cfg.head_dim, tuple(cfg.rope_ref_grid), cfg.rope_theta)

    # -- TowerBlock ----------------------------------------------------------------------
    @property
    def num_heads(self) -> int:
        return self.attn.heads

    def attend_sequence(self, x: torch.Tensor, who: str) -> torch.Tensor:
        """The block's ln_1 + attention over x (S, L, D) -> (S, L, D), without RoPE: exact
        for sequences whose elements share one spatial position (class docstring)."""
        return self.attn(self.ln_1(x))

    def attention_query_key(self, x: torch.Tensor, who: str) -> tuple[torch.Tensor, torch.Tensor]:
        """q, k (..., N, heads, d) of this block's attention for x (..., N, D) at the tower's
        native resolution: ln_1 applied, RoPE on the last gh·gw tokens (the patches)."""
        grid, head_dim, ref, theta = self._rope_args
        patches = grid[0] * grid[1]
        if x.shape[-2] < patches:
            hint = f"RoPE needs the {grid[0]}x{grid[1]} patch tokens of the native resolution last"
            raise BackboneCapabilityError(who, "eva-clip", f"query/key for {x.shape[-2]} tokens", hint)
        h = self.ln_1(x.to(self.ln_1.weight.dtype))
        *lead, n, _ = h.shape
        flat = h.reshape(-1, n, h.shape[-1])
        q, k = self.attn.query_key(flat, flat, rope_table(grid, head_dim, ref, theta, x.device))
        return tuple(t.transpose(1, 2).reshape(*lead, n, self.attn.heads, -1) for t in (q, k))  # type: ignore[return-value]

    def attention_copy(self, who: str) -> tuple[nn.Module, nn.Module]:
        """Trainable copies of ln_1 and the attention (an :class:`EvaAttention`, sub-LN and
        key without bias included), called as ``attn(x, kv=None, attn_mask=None)`` without
        RoPE: exact for sequences over time (class docstring)."""
        dim = self.ln_1.normalized_shape[0]
        norm = nn.LayerNorm(dim, eps=self.ln_1.eps)
        norm.load_state_dict(self.ln_1.state_dict())
        attn = EvaAttention(dim, self.attn.heads, self.attn.sub_norm.eps)
        with torch.no_grad():
            for name, target in attn.named_children():
                source = getattr(self.attn, name)
                source = getattr(source, "base_layer", source)  # the frozen module under a PEFT LoRA wrapper
                target.load_state_dict(source.state_dict())
        return norm.to(self.ln_1.weight.dtype), attn.to(self.ln_1.weight.dtype)

    # -- forward -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, ctx: BlockContext, rope: Rope) -> torch.Tensor:
        """x (B·T, N, D) -> (B·T, N, D); ``rope`` (cos, sin) for the patch grid at the end of x."""

        def attend(h: torch.Tensor) -> torch.Tensor:
            # Checked where RoPE is applied, after any hook that changed the tokens: RoPE rotates
            # the last gh·gw tokens, so anything else must sit before them and be counted.
            if h.shape[1] - rope[0].shape[0] != ctx.num_prefix_tokens:
                raise RuntimeError(
                    f"eva-clip block {ctx.layer}: {h.shape[1]} tokens are not {ctx.num_prefix_tokens} prefix tokens "
                    f"+ {rope[0].shape[0]} patches; hooks that add tokens must put them before the patches and "
                    "count them in ctx.num_prefix_tokens")
            return self.attn(h, attn_mask=ctx.attn_mask, rope=rope)

        return pre_norm_block(self, x, ctx, attend)


class EvaVisionTransformer(nn.Module):
    """EVA02 image tower of EVA02-CLIP (Sun et al., "EVA-CLIP: Improved Training Techniques for
    CLIP at Scale", 2023): patch embedding (with bias), class token, absolute positions, EVA
    blocks, ``ln_post``; pooled output = class token after ``ln_post``.

    Other input sizes than ``cfg.image_size`` work: the position table is resampled bicubically
    (antialiased, as timm does) and RoPE is rebuilt for the new grid, spanning the same
    reference grid.
    """

    def __init__(self, cfg: EvaVisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.patch_embed = nn.Conv2d(3, w, cfg.patch_size, cfg.patch_size)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.pos_embed = nn.Parameter(torch.zeros(cfg.grid_size**2 + 1, w))
        nn.init.normal_(self.class_embedding, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(EvaBlock(cfg) for _ in range(cfg.layers))
        self.ln_post = nn.LayerNorm(w, eps=cfg.ln_eps)
        self.hooks = HookPoints(("embed", "out"))
        self.grad_checkpointing = False

    num_prefix_tokens = 1  # the class token

    def _pos_embed(self, gh: int, gw: int) -> torch.Tensor:
        """Position table (1 + gh·gw, D) for a gh×gw grid."""
        g = self.cfg.grid_size
        if (gh, gw) == (g, g):
            return self.pos_embed
        cls, grid = self.pos_embed[:1], self.pos_embed[1:]
        grid = grid.float().reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False, antialias=True)
        return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(gh * gw, -1).to(cls.dtype)])

    def forward(self, x: torch.Tensor, return_layers: list[int] | str | None = None) -> VisionOutput:
        """x (B, C, H, W) or (B, T, C, H, W) -> :class:`~vidlift.backbones.vision.VisionOutput`
        (frame axis kept)."""
        x, clips = frames_as_images(x)
        ctx = BlockContext("visual", num_frames=clips and clips[1], num_prefix_tokens=self.num_prefix_tokens)
        x = self.patch_embed(x)
        gh, gw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # (B·T, gh·gw, D)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self._pos_embed(gh, gw).to(x.dtype)
        x = self.hooks.run("embed", x, ctx)
        rope = rope_table((gh, gw), self.cfg.head_dim, tuple(self.cfg.rope_ref_grid), self.cfg.rope_theta, x.device)
        wanted = set(normalize_layers(return_layers, len(self.blocks)))
        layers: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            ctx.layer = i
            run = functools.partial(block, rope=rope)
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = Transformer._checkpointed(run, x, ctx)  # the one checkpointing helper, fresh ctx per run
            else:
                x = run(x, ctx)
            if i in wanted:
                layers[i] = x
        ctx.layer = -1
        x = self.ln_post(x)
        x = self.hooks.run("out", x, ctx)
        return tower_output(x[:, 0], x, layers, clips, ctx.num_prefix_tokens)
