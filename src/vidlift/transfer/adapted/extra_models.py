"""Fine-tuning with extra models: new temporal modules built into (and trained with) the
image tower (the survey's "fine-tuning with extra models" family).

- :class:`XCLIP` — X-CLIP's cross-frame communication transformer (a message token per frame,
  attention across the messages, the message joins its frame's spatial attention) and
  multi-frame integration transformer as the video head;
- :class:`DividedSpaceTime` — TimeSformer's divided space-time attention: a temporal
  attention sub-block before the spatial attention of each block.

Hooks see image-tower tokens (B·T, N, D); still images (``ctx.num_frames`` None) are treated as
1-frame clips. Both use the backbone through the contract: sizes and the token layout, hook
sites, parameter names by role, and (divided space-time) a trainable copy of a block's own
attention (``TowerBlock.attention_copy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ...backbones.contract import TowerBlock
from ...backbones.layers import Attention, BlockContext, Transformer
from ..base import Strategy, VideoFeatures
from ..checks import check_bool, check_int, check_probability
from ..layers import drop_path_clips, init_like_torch_mha, linear_drop_path_rates
from ..model import TransferModel
from .adapters import TemporalEmbedding, frames_of, from_time_sequences, last_blocks, time_sequences


def _heads_for(dim: int, head_dim: int = 64) -> int:
    """dim // head_dim heads (X-CLIP's rule), at least one, dividing dim."""
    heads = max(1, dim // head_dim)
    return heads if dim % heads == 0 else 1


def _trunc_normal_init(module: nn.Module) -> None:
    """X-CLIP's / TimeSformer's ``_init_weights``: Linear ~ trunc normal(0.02), zero bias; LN 1 / 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def image_tower_names(model: TransferModel) -> list[str]:
    """Every parameter name of the backbone's image tower, its projection into the joint space
    included: the parts before, in and after the blocks."""
    bb = model.backbone
    names = bb.parameter_names("visual", "embed")
    for i in range(bb.vision_depth):
        names += bb.parameter_names("visual", "block", i)
    return names + bb.parameter_names("visual", "head")


# -- X-CLIP ------------------------------------------------------------------------------------
def _message_key(ctx) -> str:
    return f"xclip.message_at.{ctx.layer}"


class CrossFrameMessage(nn.Module):
    """X-CLIP's cross-frame communication, at ``block_in``: x (B·T, N, D) -> (B·T, N+1, D).

    Each frame's message token is ``message_fc`` of its class token (the mean of its patch
    tokens on towers without one), the T messages of a clip exchange information by
    ``m + MHA(LN(m))`` over (B, T, D) (the reference's message LN + attention, no MLP), and
    each frame's message is inserted after the frame's prefix tokens, as one more prefix token
    (``ctx.num_prefix_tokens`` + 1): the block's spatial attention then reads it with the
    frame's own tokens. :class:`DropMessage` at ``block_out`` takes it out again. Inserting it
    as a prefix (not appending it at the end, as the reference does; attention is
    permutation-equivariant, so this is the same computation) keeps the patch tokens a
    contiguous grid for other hooks. It also runs through the block's MLP, which the reference
    skips; the MLP acts per token and the token is dropped, so the frame's tokens are the same.

    New modules keep PyTorch's default init, as in the reference (``cct.py``: its
    ``init_weights`` is never called before the CLIP weights are loaded): ``message_fc`` is a
    default ``nn.Linear``, and the message attention, an ``nn.MultiheadAttention`` there, gets
    that module's own init — Xavier-uniform over the packed (3D, D) input projection, zero
    biases (:func:`~vidlift.transfer.layers.init_like_torch_mha`). The message LayerNorm has
    PyTorch's eps 1e-5, as the reference's.
    """

    def __init__(self, dim: int, heads: int, class_token: bool, ln_eps: float = 1e-5) -> None:
        super().__init__()
        self.message_fc = nn.Linear(dim, dim)
        self.message_ln = nn.LayerNorm(dim, eps=ln_eps)
        self.message_attn = Attention(dim, heads)
        init_like_torch_mha(self.message_attn)
        self.class_token = class_token

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        b, t = frames_of(x, ctx)
        p = ctx.num_prefix_tokens
        source = x[:, 0] if self.class_token else x[:, p:].mean(1)
        m = self.message_fc(source).view(b, t, -1)  # (B, T, D)
        m = m + self.message_attn(self.message_ln(m))  # messages attend across the clip's frames
        key = _message_key(ctx)
        if key in ctx.extras:
            raise RuntimeError(f"two X-CLIP message tokens in block {ctx.layer}")
        ctx.extras[key] = p
        ctx.num_prefix_tokens = p + 1
        return torch.cat([x[:, :p], m.reshape(b * t, 1, -1), x[:, p:]], dim=1)


class DropMessage(nn.Module):
    """At ``block_out``: remove the message token :class:`CrossFrameMessage` inserted
    (B·T, N+1, D) -> (B·T, N, D) and restore ``ctx.num_prefix_tokens``. No parameters."""

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        p = ctx.extras.pop(_message_key(ctx))
        ctx.num_prefix_tokens -= 1
        return torch.cat([x[:, :p], x[:, p + 1:]], dim=1)


class MultiFrameIntegration(nn.Module):
    """X-CLIP's multi-frame integration transformer (MIT), the video head: frames (B, T, E)
    + a learned position embedding -> ``layers`` transformer layers (E // 64 heads, QuickGELU
    MLP ×4) -> + frames (residual) -> mean over T -> (B, E). Init as the reference's
    (``mit.py``): its ``_init_weights`` gives every ``nn.Linear`` — the MLP and the attention's
    output projection — trunc normal(0.02) and zero bias, and the position embedding trunc
    normal(0.02); the attention's packed input projection is no ``nn.Linear`` and keeps
    ``nn.MultiheadAttention``'s Xavier-uniform with zero bias. A clip of another length than
    ``num_frames`` gets the position table linearly resized."""

    def __init__(self, num_frames: int, dim: int, layers: int = 1) -> None:
        super().__init__()
        self.position = TemporalEmbedding(num_frames, dim)
        # X-CLIP's ResidualAttentionBlocks: pre-LN (eps 1e-5), QuickGELU MLP ×4.
        self.layers = Transformer(dim, layers, _heads_for(dim), 4 * dim, "quick_gelu", 1e-5)
        _trunc_normal_init(self.layers)
        for m in self.layers.modules():  # q / k / v only; out_proj keeps the trunc normal (bias already 0)
            if isinstance(m, Attention):
                init_like_torch_mha(m)
        nn.init.trunc_normal_(self.position.embedding, std=0.02)

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        frames = features.frames
        x = frames + self.position.table(frames.shape[1]).to(frames.dtype)
        x, _ = self.layers(x, BlockContext("video_head"))
        return (x + frames).mean(1)


@dataclass
class XCLIP(Strategy):
    """X-CLIP (Ni et al., "Expanding Language-Image Pretrained Models for General Video
    Recognition", ECCV 2022; github.com/microsoft/VideoX, X-CLIP/models/cct.py, mit.py). In
    every block of the image tower a cross-frame communication step (:class:`CrossFrameMessage`
    at ``block_in``, :class:`DropMessage` at ``block_out``): per-frame message tokens attend
    across the clip's frames and join their frame's spatial attention, so information flows
    between frames at every depth; token count N is unchanged outside each block. The
    multi-frame integration transformer (``mit_layers`` layers) is the video head.

    X-CLIP fine-tunes the image encoder with its new modules: with ``train_backbone`` the whole
    image tower (with its projection into the joint space) trains, otherwise only the new modules. The video-specific
    text prompts of the paper are a separate strategy (prompt tuning), not part of this one.
    """

    name: ClassVar[str] = "xclip"
    family: ClassVar[str] = "fine-tuning with extra models"
    paper: ClassVar[str] = "Ni et al., ECCV 2022 (arXiv 2208.02816)"
    trains_backbone: ClassVar[bool] = True
    mit_layers: int = 1
    train_backbone: bool = True

    def __post_init__(self) -> None:
        # At least one MIT layer (X-CLIP uses 1): with none the head would be
        # 2·mean(frames) + mean(positions), not a meaningful ablation.
        check_int(self.name, "mit_layers", self.mit_layers)
        check_bool(self.name, "train_backbone", self.train_backbone)

    def apply(self, model: TransferModel) -> None:
        bb = model.backbone
        class_token = bb.token_layout.class_token
        heads = bb.vision_block(0).num_heads
        if self.train_backbone:
            model.train_backbone(image_tower_names(model), "image tower (fine-tuned)")
        for i in range(model.depth):
            msg = model.place(CrossFrameMessage(model.width, heads, class_token))
            model.insert(f"visual.blocks.{i}.block_in", msg, "cross-frame message token + message attention")
            model.insert(f"visual.blocks.{i}.block_out", DropMessage(), "drop message token")
        head = model.place(MultiFrameIntegration(model.num_frames, model.embed_dim, self.mit_layers))
        model.set_role("video_head", head, f"multi-frame integration transformer ({self.mit_layers} layer)")


# -- Divided space-time attention (TimeSformer) --------------------------------------------------
class DividedTemporalAttention(nn.Module):
    """TimeSformer's temporal sub-block, at ``block_in``: for every patch position, its T
    frames attend to each other, x_patch + fc(attn_t(norm_t(x_patch along T))); prefix tokens
    (per-frame class tokens, prompts) pass through, as TimeSformer keeps its class token out
    of the temporal attention. (TimeSformer's single video class token averages its spatial
    results over frames; CLIP's class token is per frame, so each frame keeps its own and the
    video head pools over frames.)

    ``norm_t`` / ``attn_t`` start as copies of the host block's pre-attention norm and attention
    (``TowerBlock.attention_copy``; TimeSformer copies ``norm1`` / ``attn`` into
    ``temporal_norm1`` / ``temporal_attn`` when loading image weights); ``fc``
    (``temporal_fc``) starts at zero so the block starts as the image block.

    ``drop_path``: this block's rate, applied while training to the temporal attention's
    output before ``fc``, where TimeSformer's ``Block`` puts it (so a dropped clip still gets
    ``fc``'s bias), one draw per clip.
    """

    def __init__(self, block: TowerBlock, dim: int, who: str = "divided_st", drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm, self.attn = block.attention_copy(who)
        self.fc = nn.Linear(dim, dim)
        self.drop_path = drop_path
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        b, t = frames_of(x, ctx)
        p = ctx.num_prefix_tokens
        patches = x[:, p:]
        h = self.attn(self.norm(time_sequences(patches, b, t)))  # (B·P, T, D), clip-major
        h = self.fc(drop_path_clips(h, self.drop_path, self.training, b))
        return torch.cat([x[:, :p], patches + from_time_sequences(h, b, t)], dim=1)


@dataclass
class DividedSpaceTime(Strategy):
    """Divided space-time attention (Bertasius et al., "Is Space-Time Attention All You Need
    for Video Understanding?", ICML 2021 — TimeSformer; github.com/facebookresearch/TimeSformer,
    ``timesformer/models/vit.py``). A temporal attention sub-block (LN + multi-head attention
    along T per patch position + linear out projection, residual) before the spatial attention
    of each of the last ``blocks`` blocks (None: all), initialised from the host block's
    attention with the out projection at zero; and (``time_embed``) TimeSformer's learned
    temporal position embedding (zeros) on the patch tokens, without which temporal attention
    could not tell frame order. At initialisation the model is exactly the image model.
    (TimeSformer zeroes ``temporal_fc`` in every block but the first; we zero all of them so
    the start is the backbone's own output.)

    ``train_blocks``: the new modules go into frozen blocks (False) or the host blocks' own
    parameters train too (True), as in TimeSformer's full fine-tuning. A backbone whose blocks
    cannot hand out a copy of their attention for another axis refuses when the model is built
    (:class:`~vidlift.backbones.contract.BackboneCapabilityError`).

    ``drop_path`` (default 0.1, TimeSformer's ``drop_path_rate`` for its ViT-B/16 models in
    ``vit.py``): stochastic depth on the temporal branch, at TimeSformer's per-block rate
    (``torch.linspace(0, drop_path_rate, depth)`` over all blocks; with ``blocks`` set, the
    chosen last blocks keep their rates from that schedule). Departures: TimeSformer also
    drops its spatial attention and MLP branches, which here are the host block's own and
    have no drop path; and it draws per (clip, patch position) on the temporal branch, where
    vidlift draws per clip.
    """

    name: ClassVar[str] = "divided_st"
    # deltas saved before drop path (issue 12) trained without it
    legacy_defaults: ClassVar[dict[str, Any]] = {"drop_path": 0.0}
    family: ClassVar[str] = "fine-tuning with extra models"
    paper: ClassVar[str] = "Bertasius et al., ICML 2021 (arXiv 2102.05095)"
    trains_backbone: ClassVar[bool] = True
    blocks: int | None = None
    train_blocks: bool = False
    time_embed: bool = True
    drop_path: float = 0.1

    def __post_init__(self) -> None:
        check_int(self.name, "blocks", self.blocks, optional=True)
        check_bool(self.name, "train_blocks", self.train_blocks)
        check_bool(self.name, "time_embed", self.time_embed)
        check_probability(self.name, "drop_path", self.drop_path)

    def apply(self, model: TransferModel) -> None:
        bb = model.backbone
        chosen = last_blocks(model.depth, self.blocks, self.name)
        if self.train_blocks:
            model.train_backbone([n for i in chosen for n in bb.parameter_names("visual", "block", i)], "host blocks")
        if self.time_embed:
            embed = TemporalEmbedding(model.num_frames, model.width, skip_prefix=True)
            model.insert("visual.embed", model.place(embed),
                         f"time embedding {model.num_frames}x{model.width} (patch tokens)")
        rates = linear_drop_path_rates(model.depth, self.drop_path)
        for i in chosen:
            module = model.place(DividedTemporalAttention(bb.vision_block(i), model.width, self.name, rates[i]))
            model.insert(f"visual.blocks.{i}.block_in", module, "temporal attention (LN + MHA along T + zero fc)")


__all__ = [
    "XCLIP", "DividedSpaceTime", "CrossFrameMessage", "DropMessage", "MultiFrameIntegration",
    "DividedTemporalAttention",
]
