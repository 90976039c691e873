"""Adapters: small trainable modules inside the frozen image tower (the survey's "fine-tuning
with adapter" family). Three methods, each a :class:`~vidlift.transfer.base.Strategy`:

- :class:`AdaptFormer` — a bottleneck MLP parallel to every block's MLP (no temporal modelling);
- :class:`STAdapter` — a bottleneck with a depth-wise 3D convolution over (T, H, W) on the
  patch tokens, before a block's attention;
- :class:`AIM` — spatial, temporal (the block's own frozen attention run along T) and joint
  adapters in every block, plus a learned temporal position embedding.

Every hook receives image-tower tokens (B·T, N, D) and its :class:`~vidlift.backbones.layers.
BlockContext`; with still images (``ctx.num_frames`` None) temporal modules treat the input as
one-frame clips, so an image gives exactly what a 1-frame clip gives. AIM reuses a block's own
attention through the contract (``ctx.block.attend_sequence``); a family whose attention cannot
run along time refuses when the model is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Strategy, TransferCompositionError, VideoFeatures
from ..checks import check_bool, check_choice, check_int, check_number, check_probability
from ..layers import drop_path_clips, linear_drop_path_rates
from ..model import TransferModel


# -- shared helpers (also used by :mod:`.extra_models`) -------------------------------------
def frames_of(x: torch.Tensor, ctx) -> tuple[int, int]:
    """(B, T) for tokens x (B·T, N, D); still images count as 1-frame clips."""
    t = ctx.num_frames or 1
    if x.shape[0] % t:
        raise ValueError(f"{x.shape[0]} token rows are not a whole number of {t}-frame clips")
    return x.shape[0] // t, t


def last_blocks(depth: int, blocks: int | None, who: str) -> range:
    """Indices of the last ``blocks`` blocks (None: all of them)."""
    if blocks is None:
        return range(depth)
    if not 1 <= blocks <= depth:
        raise TransferCompositionError(f"{who}: blocks={blocks} does not fit a {depth}-block image tower")
    return range(depth - blocks, depth)


class TemporalEmbedding(nn.Module):
    """A learned embedding per frame, added to the tokens at ``visual.embed`` (AIM's
    ``temporal_embedding``, TimeSformer's ``time_embed``); zero-initialised as both do, so the
    model starts as the image model.

    ``(B·T, N, D) -> (B·T, N, D)``. The table holds ``num_frames`` rows; a clip of another
    length gets the table linearly resized (endpoints kept, so a 1-frame clip or a still
    image gets row 0). ``skip_prefix`` leaves the class / prompt tokens alone (TimeSformer
    adds it to patch tokens only; AIM to every token).
    """

    def __init__(self, num_frames: int, dim: int, skip_prefix: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.zeros(num_frames, dim))
        self.skip_prefix = skip_prefix

    def table(self, t: int) -> torch.Tensor:
        """(t, D) embeddings for a t-frame clip."""
        e = self.embedding
        if t == e.shape[0]:
            return e
        return F.interpolate(e.t()[None], size=t, mode="linear", align_corners=True)[0].t()

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        b, t = frames_of(x, ctx)
        e = self.table(t).to(x.dtype)[None, :, None, :]  # (1, T, 1, D)
        p = ctx.num_prefix_tokens if self.skip_prefix else 0
        y = x.unflatten(0, (b, t))
        y = torch.cat([y[:, :, :p], y[:, :, p:] + e], dim=2)
        return y.flatten(0, 1)


def time_sequences(x: torch.Tensor, b: int, t: int) -> torch.Tensor:
    """(B·T, N, D) -> (B·N, T, D): every token position becomes a sequence over time."""
    n, d = x.shape[1:]
    return x.view(b, t, n, d).transpose(1, 2).reshape(b * n, t, d)


def from_time_sequences(x: torch.Tensor, b: int, t: int) -> torch.Tensor:
    """(B·N, T, D) -> (B·T, N, D), the inverse of :func:`time_sequences`."""
    d = x.shape[-1]
    return x.view(b, -1, t, d).transpose(1, 2).reshape(b * t, -1, d)


# -- AdaptFormer ------------------------------------------------------------------------------
class AdaptMLP(nn.Module):
    """AdaptFormer's parallel bottleneck, at ``mlp_out``: the MLP output x (B·T, N, D) plus
    ``scale · up(ReLU(down(r)))`` where r is the residual stream entering the MLP branch
    (``ctx.residual``, before ``ln_2``), as the reference adds ``adaptmlp(x)`` computed on the
    un-normalised block state. No frame mixing."""

    def __init__(self, dim: int, bottleneck: int, scale: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        self.scale = scale
        self.dropout = dropout
        # The reference's init_option="lora": Kaiming-uniform down, zero up and biases -> starts as the frozen model.
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        for t in (self.down.bias, self.up.weight, self.up.bias):
            nn.init.zeros_(t)

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        h = F.relu(self.down(ctx.residual))
        h = F.dropout(h, self.dropout, self.training)
        return x + self.scale * self.up(h)


@dataclass
class AdaptFormer(Strategy):
    """AdaptFormer (Chen et al., "AdaptFormer: Adapting Vision Transformers for Scalable Visual
    Recognition", NeurIPS 2022; github.com/ShoufaChen/AdaptFormer). In every block an AdaptMLP
    (D -> ``bottleneck`` -> D, ReLU, output × ``scale``) runs parallel to the frozen MLP on the
    block state before ``ln_2``; its sum joins the residual. Up-projection zero-initialised, so
    training starts from the frozen backbone. Only the AdaptMLPs train. Frames stay
    independent: this is an image adapter applied per frame.
    """

    name: ClassVar[str] = "adaptformer"
    family: ClassVar[str] = "adapter"
    paper: ClassVar[str] = "Chen et al., NeurIPS 2022 (arXiv 2205.13535)"
    trains_backbone: ClassVar[bool] = True
    bottleneck: int = 64
    scale: float = 0.1
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_int(self.name, "bottleneck", self.bottleneck)
        check_number(self.name, "scale", self.scale, low=0.0, low_open=True)
        check_probability(self.name, "dropout", self.dropout)

    def apply(self, model: TransferModel) -> None:
        for i in range(model.depth):
            module = model.place(AdaptMLP(model.width, self.bottleneck, self.scale, self.dropout))
            model.insert(f"visual.blocks.{i}.mlp_out", module, f"AdaptMLP {model.width}->{self.bottleneck}")


# -- ST-Adapter --------------------------------------------------------------------------------
class STAdapterModule(nn.Module):
    """ST-Adapter: x + fc2(DWConv3D(fc1(x))) on the patch tokens, prefix tokens (class token,
    prompts) passed through unchanged, as in the reference code.

    fc1: D -> C, then the patch tokens of each clip are laid out as (B, C, T, H, W) for a
    depth-wise (groups = C) 3D convolution with ``kernel`` (padding kernel // 2), then fc2:
    C -> D. The official code puts no activation between the three (we follow it), so the
    module is linear in x; what it adds to the image model is mixing over (T, H, W).
    Zero-initialised convolution (weight and bias) and zero biases, as the reference does, so
    the adapter starts as identity (fc1 / fc2 weights keep PyTorch's default init).

    ``site``: "block_in" (before the attention: input is the block's residual stream) or
    "attn_out" (before the MLP: there the hook sees the attention output a and adds the
    adapter's update of the stream ``ctx.residual + a``, which is the same as running the
    adapter on the stream between attention and MLP).
    """

    def __init__(self, dim: int, bottleneck: int, kernel: tuple[int, int, int], site: str = "block_in") -> None:
        super().__init__()
        if site not in ("block_in", "attn_out"):
            raise ValueError(f"ST-Adapter site must be block_in or attn_out, not {site!r}")
        if any(k % 2 == 0 for k in kernel):
            raise ValueError(f"ST-Adapter kernel {tuple(kernel)} must be odd in every axis (same-size padding)")
        self.site = site
        self.fc1 = nn.Linear(dim, bottleneck)
        self.conv = nn.Conv3d(bottleneck, bottleneck, tuple(kernel), padding=tuple(k // 2 for k in kernel),
                              groups=bottleneck)
        self.fc2 = nn.Linear(bottleneck, dim)
        for t in (self.conv.weight, self.conv.bias, self.fc1.bias, self.fc2.bias):
            nn.init.zeros_(t)

    def update(self, x: torch.Tensor, ctx) -> torch.Tensor:
        """x (B·T, N, D) -> the adapter's additive update (B·T, N, D), zero on prefix tokens."""
        b, t = frames_of(x, ctx)
        p = ctx.num_prefix_tokens
        patches = x[:, p:]
        n = patches.shape[1]
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"ST-Adapter needs a square patch grid, got {n} patch tokens "
                             f"({x.shape[1]} tokens, {p} prefix)")
        c = self.conv.in_channels
        h = self.fc1(patches).view(b, t, side, side, c).permute(0, 4, 1, 2, 3)  # (B, C, T, H, W)
        h = self.conv(h).permute(0, 2, 3, 4, 1).reshape(b * t, n, c)
        return F.pad(self.fc2(h), (0, 0, p, 0))

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        if self.site == "block_in":
            return x + self.update(x, ctx)
        return x + self.update(ctx.residual + x, ctx)


_ST_SITES = {"attn": ("block_in",), "mlp": ("attn_out",), "both": ("block_in", "attn_out")}


class ClassTokenMeanPool(nn.Module):
    """ST-Adapter's video head, as its reference ``VisionTransformer.forward`` pools: the last
    block's class token averaged over the T frames, then the image tower's final norm
    (``ln_post``, through the contract's ``final_norm``), then the projection into the joint
    space::

        pre = final_norm(mean_T(layers[L−1][:, :, 0]))   (B, D)   -> VideoOutput.pre_projection
        embedding = project_image(pre)                    (B, E)

    ``pre`` is what the reference feeds to its Dropout(0.5) and linear classifier. It differs
    from meanP (the mean of the per-frame ``ln_post`` + projection) because the norm is not
    linear. ``visual.out`` hooks (VPT's prompt removal) do not act here; the class token is
    token 0 of every block output, prompts or not. The backbone is held in a plain list, so it
    is not a submodule; the head has no parameters."""

    def __init__(self, backbone, layer: int, who: str) -> None:
        super().__init__()
        self.layer = layer
        self.who = who
        self._backbone = [backbone]

    def encode(self, features: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        if self.layer not in features.layers:
            raise KeyError(f"{self.who} pools block {self.layer}'s class token but the features hold blocks "
                           f"{sorted(features.layers)}")
        bb = self._backbone[0]
        pre = bb.final_norm(features.layers[self.layer][:, :, 0].mean(1), who=self.who)
        return bb.project_image(pre), pre

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        return self.encode(features)[0]


@dataclass
class STAdapter(Strategy):
    """ST-Adapter (Pan et al., "ST-Adapter: Parameter-Efficient Image-to-Video Transfer
    Learning", NeurIPS 2022; github.com/linziyi96/st-adapter). A bottleneck D -> ``bottleneck``
    with a depth-wise 3D convolution (``kernel`` (T, H, W), default (3, 1, 1): pure temporal
    mixing between neighbouring frames) -> D, residual, on the patch tokens of the last
    ``blocks`` blocks (None: all). Only the adapters train. Zero-initialised convolution:
    starts as the frozen backbone. Temporal receptive field: one frame each way per adapter.

    ``position``: "attn" puts the adapter before each block's attention, as the paper's
    figure describes (default); "mlp" before the MLP; "both" gives the official "24×384" SSv2
    setting. "12×384" at ViT-B/16 holds 12 × 592,512 = 7.11M parameters.

    **To reproduce the paper's Kinetics-400 result (82.2% top-1, ViT-B/16 "12×384") use
    ``position="mlp"``: the released K400 configuration behind that figure is the official
    ``adapter12x384`` script, which sets ``adapter_pre_attn=False, adapter_pre_mlp=True``,
    i.e. one adapter before each block's MLP, not before its attention.** The default stays
    "attn" because that is where the paper's figure places the adapter; the two placements
    give different models (same parameter count), so say which one a result used.

    ``pooling``: "class_token" (default) fills the video head as the reference pools — the
    last block's class token averaged over frames, then ``ln_post``, then the projection, the
    normed mean being ``VideoOutput.pre_projection`` (:class:`ClassTokenMeanPool`; the
    reference's ``x[:, :, 0, :].mean(dim=1)`` before ``self.ln_post``). A tower without a
    class token (SigLIP's MAP head) keeps the default meanP there: the reference's pooling has
    nothing to average. "frames" leaves the video head to meanP or another strategy (vidlift
    before this option: the mean of the projected per-frame embeddings).
    """

    name: ClassVar[str] = "st_adapter"
    # deltas saved before the class-token pooling (issue 12) pooled the projected frames
    legacy_defaults: ClassVar[dict[str, Any]] = {"pooling": "frames"}
    family: ClassVar[str] = "adapter"
    paper: ClassVar[str] = "Pan et al., NeurIPS 2022 (arXiv 2206.13559)"
    trains_backbone: ClassVar[bool] = True
    bottleneck: int = 384
    kernel: tuple[int, int, int] = (3, 1, 1)
    blocks: int | None = None
    position: str = "attn"
    pooling: str = "class_token"

    def __post_init__(self) -> None:
        check_int(self.name, "bottleneck", self.bottleneck)
        kernel = self.kernel
        if (not isinstance(kernel, (tuple, list)) or len(kernel) != 3
                or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 and k % 2 for k in kernel)):
            raise ValueError(f"{self.name}: kernel must be 3 odd positive sizes (T, H, W) (same-size padding), "
                             f"got {kernel!r}")
        self.kernel = tuple(kernel)
        check_int(self.name, "blocks", self.blocks, optional=True)
        check_choice(self.name, "position", self.position, sorted(_ST_SITES))
        check_choice(self.name, "pooling", self.pooling, ("class_token", "frames"))

    def needs_layers(self, depth: int) -> list[int]:
        return [depth - 1] if self.pooling == "class_token" else []

    def apply(self, model: TransferModel) -> None:
        for i in last_blocks(model.depth, self.blocks, self.name):
            for site in _ST_SITES[self.position]:
                module = model.place(STAdapterModule(model.width, self.bottleneck, tuple(self.kernel), site))
                model.insert(f"visual.blocks.{i}.{site}", module,
                             f"ST-Adapter {model.width}->{self.bottleneck} DWConv3D{tuple(self.kernel)}")
        bb = model.backbone
        if self.pooling == "class_token" and bb.token_layout.class_token:
            with torch.no_grad():  # refuse now a family without a final norm
                bb.final_norm(torch.zeros(1, model.width, device=bb.device, dtype=bb.dtype), who=self.name)
            model.set_role("video_head", ClassTokenMeanPool(bb, model.depth - 1, self.name),
                           "class token of the last block, mean over T, then ln_post")


# -- AIM -----------------------------------------------------------------------------------------
class Bottleneck(nn.Module):
    """AIM's adapter: fc2(GELU(fc1(x))) (+ x with ``skip``), D -> D·ratio -> D. fc1 ~ trunc
    normal(0.02) with zero bias (the reference's ``_init_weights``), fc2 zero, so the adapter
    starts as identity (with skip) or zero (without)."""

    def __init__(self, dim: int, ratio: float, skip: bool) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.skip = skip
        nn.init.trunc_normal_(self.fc1.weight, std=0.02)
        for t in (self.fc1.bias, self.fc2.weight, self.fc2.bias):
            nn.init.zeros_(t)

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(F.gelu(self.fc1(x)))
        return x + y if self.skip else y


class SpatialAdapter(Bottleneck):
    """AIM's S-Adapter at ``attn_out``: the frozen spatial attention's output a (B·T, N, D)
    -> a + fc2(GELU(fc1(a)))."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__(dim, ratio, skip=True)

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        return self.adapt(x)


class TemporalAdapter(Bottleneck):
    """AIM's temporal adaptation at ``block_in``: x + DropPath(T-Adapter(attn(ln_1(x_t)))),
    where x_t arranges every token position's T frames as a sequence and ``attn`` / ``ln_1``
    are the block's own frozen pre-attention norm and attention, reused for time through the
    contract (``ctx.block.attend_sequence``). The T-Adapter has no skip, so with fc2 at zero
    the block starts unchanged. All tokens (class token included) take part, as in the
    reference. ``drop_path``: this block's rate, one draw per clip while training."""

    def __init__(self, dim: int, ratio: float, drop_path: float = 0.0) -> None:
        super().__init__(dim, ratio, skip=False)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        b, t = frames_of(x, ctx)
        h = ctx.block.attend_sequence(time_sequences(x, b, t), who="aim")  # (B·N, T, D), attention along time
        return x + drop_path_clips(from_time_sequences(self.adapt(h), b, t), self.drop_path, self.training, b)


class JointAdapter(Bottleneck):
    """AIM's joint adapter at ``mlp_out``: parallel to the MLP on ``ln_2``'s output
    (``ctx.branch_input``), no skip, × ``scale``, through drop path (this block's rate, one
    draw per clip while training): mlp(xn) + DropPath(scale · fc2(GELU(fc1(xn))))."""

    def __init__(self, dim: int, ratio: float, scale: float, drop_path: float = 0.0) -> None:
        super().__init__(dim, ratio, skip=False)
        self.scale = scale
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        b, _ = frames_of(x, ctx)
        return x + drop_path_clips(self.scale * self.adapt(ctx.branch_input), self.drop_path, self.training, b)


@dataclass
class AIM(Strategy):
    """AIM (Yang et al., "AIM: Adapting Image Models for Efficient Video Action Recognition",
    ICLR 2023; github.com/taoyang1122/adapt-image-models, ``vit_clip.py``). Per block:

    1. temporal adaptation (``block_in``): x + T-Adapter(attn(ln_1(x along T))) with the
       block's frozen attention reused over the frames of each token position;
    2. spatial adaptation (``attn_out``): S-Adapter with skip on the attention output;
    3. joint adaptation (``mlp_out``): ``scale`` · Adapter(ln_2(x)) parallel to the MLP.

    Adapters are D -> D·``mlp_ratio`` -> D with GELU, fc2 zero-initialised; a learned
    temporal position embedding (T × D, zeros) is added to all tokens at ``visual.embed``. At
    initialisation the model is exactly the frozen backbone. With ``train_ln_post`` the final
    LayerNorm trains too, as the reference's freezing rule keeps ``ln_post`` tunable (through
    the contract: the norms above the blocks, ``parameter_names("visual", "head")`` ∩
    ``"norm"`` — CLIP's ``ln_post``, and SigLIP's MAP-head norm beside it).

    The temporal adapters run each block's own attention along time
    (``TowerBlock.attend_sequence``): a backbone whose attention cannot do that refuses when
    the model is built (:class:`~vidlift.backbones.contract.BackboneCapabilityError`, naming
    ``aim`` and the family).

    Tunable count at ViT-B/16, 8 frames: 12 × 3 × 295,872 (adapters) + 6,144 (temporal
    embedding) + 1,536 (ln_post) = 10,659,072; with a 400-way K400 head on the 768-d class
    token (307,600) 10.97M — the paper's "11M".

    ``drop_path`` (default 0.2, the K400 config's ``drop_path_rate``,
    ``configs/recognition/vit/vitclip_base_k400.py``): stochastic depth on the temporal
    adapter's and the joint adapter's branches (the reference's ``ResidualAttentionBlock``
    wraps exactly these two in ``DropPath``; the spatial adapter and the frozen attention /
    MLP have none), at a rate rising linearly over the blocks from 0 at the first to
    ``drop_path`` at the last (its ``Transformer``: ``torch.linspace(0, drop_path, layers)``).
    It acts only in training. Departure: the reference's ``DropPath`` draws along the first
    axis of its sequence-first (N, B·T, D) tensors, i.e. one draw per token position shared by
    every clip and frame of the batch; vidlift draws per clip (stochastic depth as defined,
    and as timm's ``DropPath`` draws on batch-first tensors).
    """

    name: ClassVar[str] = "aim"
    # deltas saved before drop path (issue 12) trained without it
    legacy_defaults: ClassVar[dict[str, Any]] = {"drop_path": 0.0}
    family: ClassVar[str] = "adapter"
    paper: ClassVar[str] = "Yang et al., ICLR 2023 (arXiv 2302.03024)"
    trains_backbone: ClassVar[bool] = True
    mlp_ratio: float = 0.25
    scale: float = 0.5
    train_ln_post: bool = True
    drop_path: float = 0.2

    def __post_init__(self) -> None:
        check_number(self.name, "mlp_ratio", self.mlp_ratio, low=0.0, low_open=True)
        check_number(self.name, "scale", self.scale, low=0.0, low_open=True)
        check_bool(self.name, "train_ln_post", self.train_ln_post)
        check_probability(self.name, "drop_path", self.drop_path)

    def apply(self, model: TransferModel) -> None:
        d, r = model.width, self.mlp_ratio
        if int(d * r) < 1:
            raise TransferCompositionError(f"{self.name}: mlp_ratio={r} gives a 0-wide adapter at width {d}")
        bb = model.backbone
        probe = torch.zeros(1, model.num_frames, d, device=bb.device, dtype=bb.dtype)
        with torch.no_grad():  # refuse now, not in the first forward pass, where the attention cannot run along T
            for i in range(model.depth):
                bb.vision_block(i).attend_sequence(probe, who=self.name)
        model.insert("visual.embed", model.place(TemporalEmbedding(model.num_frames, d)),
                     f"temporal embedding {model.num_frames}x{d}")
        for i, dp in enumerate(linear_drop_path_rates(model.depth, self.drop_path)):
            model.insert(f"visual.blocks.{i}.block_in", model.place(TemporalAdapter(d, r, dp)),
                         "T-Adapter on frozen attn along T")
            model.insert(f"visual.blocks.{i}.attn_out", model.place(SpatialAdapter(d, r)), "S-Adapter")
            model.insert(f"visual.blocks.{i}.mlp_out", model.place(JointAdapter(d, r, self.scale, dp)),
                         "joint adapter (parallel to MLP)")
        if self.train_ln_post:
            norms = set(bb.parameter_names("visual", "norm"))
            final = [n for n in bb.parameter_names("visual", "head") if n in norms]
            if not final:
                raise TransferCompositionError(f"{self.name}: the {bb.family} backbone has no norm above its image "
                                               "tower's blocks to tune (train_ln_post=False skips it)")
            model.train_backbone(final, "final norm (ln_post)")


__all__ = [
    "AdaptFormer", "STAdapter", "AIM", "AdaptMLP", "STAdapterModule", "ClassTokenMeanPool", "SpatialAdapter",
    "TemporalAdapter", "JointAdapter", "TemporalEmbedding",
]
