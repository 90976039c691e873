"""Prompt tuning: learned text context (CoOp), learned visual tokens (VPT), and X-CLIP's
video-specific text prompts. The backbone's weights stay frozen; what trains is input-side
vectors (and, for X-CLIP, a small prompt generator after the towers)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...backbones.contract import TextEncoder
from ...backbones.layers import Attention, BlockContext, QuickGELU
from ..base import Strategy, TransferCompositionError, VideoFeatures
from ..checks import check_bool, check_choice, check_int, check_number, check_probability
from ..model import TransferModel

# --------------------------------------------------------------------------------------
# CoOp: learned context vectors in front of the class name


def has_start_token(model: TransferModel) -> bool:
    """Whether the tokenizer opens every text with the same token (CLIP's <start_of_text>);
    SigLIP's does not. Three unrelated texts share their first id only through such a token."""
    first = model.tokenize(["photo", "dog running", "a"])[:, 0]
    return bool((first == first[0]).all())


def shift_right(text: TextEncoder, ids: torch.Tensor, start: int, n_ctx: int, placeholder: int) -> torch.Tensor:
    """Token ids (C, L) -> (C, L) with ``n_ctx`` placeholder ids after the first ``start`` ids.
    Rows too long lose tokens *before* their end token (``text.truncate``), which always
    survives, so pooling (argmax, end token, last position) still reads the end."""
    length = ids.shape[1]
    if length - start - n_ctx < 2:
        raise ValueError(f"{n_ctx} context vectors leave no room for a class name in a context of {length} tokens")
    cut = text.truncate(ids, length - n_ctx)  # every row now ends (end token, padding) within length - n_ctx
    fill = torch.full((ids.shape[0], n_ctx), placeholder, dtype=ids.dtype, device=ids.device)
    return torch.cat([cut[:, :start], fill, cut[:, start : length - n_ctx]], dim=1)


class CoOpPrompt(nn.Module):
    """The class-prompt role of :class:`CoOp`: ``forward(model, class_names) -> (C, E)``.

    ``ctx``: (n_ctx, D) shared, or (num_classes, n_ctx, D) class-specific, D the text width.
    Each class name is tokenised as "{name}.", shifted right by n_ctx placeholders, embedded,
    and the placeholders' embeddings are replaced by ``ctx`` before the (frozen) text encoder
    (the backbone's :class:`~vidlift.backbones.contract.TextEncoder`; a backbone without one
    refuses CoOp).
    """

    def __init__(self, model: TransferModel, n_ctx: int, init: str | None, class_specific: bool,
                 num_classes: int | None) -> None:
        super().__init__()
        text = model.backbone.require_text(CoOp.name)
        self.n_ctx, self.class_specific, self.num_classes = n_ctx, class_specific, num_classes
        # Even without a start token, the class name and the end token need 2 places.
        if text.context_length - n_ctx < 2:
            raise TransferCompositionError(
                f"coop: {n_ctx} context vectors leave no room for a class name and the end token in this "
                f"backbone's {text.context_length}-token text context")
        # Tokenizer facts, read on first use (a backbone may get its tokenizer after loading).
        self.start: int | None = None
        self.placeholder: int | None = None
        weight = text.token_embedding_weight
        if init:
            self._read_tokenizer(model)
            ids = model.tokenize([init])
            found = int(text.end_index(ids)[0]) - self.start
            if found != n_ctx:
                raise ValueError(f"init {init!r} has {found} tokens but n_ctx={n_ctx}; CoOp sets n_ctx to the "
                                 f"initialisation's length: pass n_ctx={found}")
            with torch.no_grad():
                vec = text.embed_tokens(ids)[0, self.start : self.start + n_ctx].clone()
            if class_specific:  # one copy of the initial words per class
                vec = vec.unsqueeze(0).repeat(num_classes, 1, 1)
        else:  # CoOp: N(0, 0.02²), drawn independently per class when class-specific
            shape = (num_classes, n_ctx, weight.shape[1]) if class_specific else (n_ctx, weight.shape[1])
            vec = torch.empty(shape, device=weight.device, dtype=weight.dtype).normal_(std=0.02)
        self.ctx = nn.Parameter(vec)

    def _read_tokenizer(self, model: TransferModel) -> None:
        if self.start is None:
            self.start = 1 if has_start_token(model) else 0
            # CoOp writes its prompt with "X" placeholders; their ids never are the end
            # token, so argmax / eos pooling still finds the end after the shift.
            self.placeholder = int(model.tokenize(["X"])[0, self.start])

    def token_ids(self, model: TransferModel, class_names: Sequence[str]) -> torch.Tensor:
        """(C, L) ids "<start> X…X {name}. <end>" with n_ctx placeholders X."""
        self._read_tokenizer(model)
        text = model.backbone.require_text(CoOp.name)
        ids = model.tokenize([f"{c}." for c in class_names])
        # Rows grow by n_ctx (up to the context) where padding does not move the pooled token;
        # last-position pooling (SigLIP) keeps the tokenizer's fixed length.
        grow = min(text.context_length, ids.shape[1] + self.n_ctx) - ids.shape[1]
        if grow > 0:
            longer = F.pad(ids, (0, grow), value=text.pad_token_id)
            if torch.equal(text.pool_index(longer), text.pool_index(ids)):
                ids = longer
        return shift_right(text, ids, self.start, self.n_ctx, self.placeholder)

    def forward(self, model: TransferModel, class_names: Sequence[str]) -> torch.Tensor:
        c = len(class_names)
        if self.class_specific and c != self.num_classes:
            raise ValueError(f"class-specific CoOp was built for {self.num_classes} classes, got {c} class names")
        text = model.backbone.require_text(CoOp.name)
        ids = self.token_ids(model, class_names)
        emb = text.embed_tokens(ids)  # (C, L, D)
        ctx = self.ctx if self.class_specific else self.ctx.unsqueeze(0).expand(c, -1, -1)
        s = self.start
        emb = torch.cat([emb[:, :s], ctx.to(emb.dtype), emb[:, s + self.n_ctx :]], dim=1)
        return text.encode(ids, inputs_embeds=emb)


@dataclass
class CoOp(Strategy):
    """CoOp (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV 2022): the
    hand-written class prompt is replaced by n_ctx learned context vectors in the text
    tower's input, "[V]_1 … [V]_n_ctx {class}.", the class name at the end (CoOp's default
    position). Defaults are the paper's: n_ctx = 16 vectors drawn from N(0, 0.02²), shared by
    all classes (unified context); ``class_specific=True`` (CSC) learns one set per class and
    needs ``num_classes``. ``init`` (e.g. "a photo of a", with n_ctx = its token count, 4)
    starts the context from those words' embeddings.

    The vectors live in the class-prompt role (``roles.class_prompt.ctx``) and enter through
    the text encoder's ``encode(ids, inputs_embeds=…)``: nothing is inserted in the backbone, so captions
    encoded with ``model.encode_text`` are unaffected and the frozen image tower still runs
    without autograd (and from the feature cache). Gradients reach ``ctx`` through the frozen
    text tower only — hence ``trains_backbone = False``.
    """

    name: ClassVar[str] = "coop"
    family: ClassVar[str] = "prompt tuning"
    paper: ClassVar[str] = "Zhou et al., IJCV 2022 (arXiv 2109.01134)"

    n_ctx: int = 16
    init: str | None = None
    class_specific: bool = False
    num_classes: int | None = None

    def __post_init__(self) -> None:
        check_int(self.name, "n_ctx", self.n_ctx)
        if self.init is not None and (not isinstance(self.init, str) or not self.init.strip()):
            raise ValueError(f"{self.name}: init must be words (e.g. 'a photo of a') or None, got {self.init!r}")
        check_bool(self.name, "class_specific", self.class_specific)
        if self.class_specific and (isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int)
                                    or self.num_classes < 1):
            raise ValueError(f"{self.name}: class-specific CoOp (class_specific=True) needs num_classes, the number "
                             "of class names")
        if not self.class_specific and self.num_classes is not None:
            raise ValueError(f"{self.name}: num_classes is only used with class_specific=True")

    def apply(self, model: TransferModel) -> None:
        prompt = CoOpPrompt(model, self.n_ctx, self.init, self.class_specific, self.num_classes)
        kind = f"class-specific ×{self.num_classes}" if self.class_specific else "unified"
        model.set_role("class_prompt", prompt, f"CoOp context ({self.n_ctx} vectors, {kind})")


# --------------------------------------------------------------------------------------
# VPT: learned tokens inside the image tower

_VPT_START = "vpt.start"  # ctx.extras key: index of the first prompt token


class _PromptTokens(nn.Module):
    """P learned tokens (P, D), the same for every frame; VPT's xavier-uniform init."""

    def __init__(self, num_tokens: int, width: int, patch_size: int, dropout: float) -> None:
        super().__init__()
        val = math.sqrt(6.0 / float(3 * patch_size * patch_size + width))
        self.prompts = nn.Parameter(torch.empty(num_tokens, width).uniform_(-val, val))
        self.dropout = nn.Dropout(dropout)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B·T, P, D) for an input x of (B·T, N, D)."""
        return self.dropout(self.prompts.to(x.dtype)).unsqueeze(0).expand(x.shape[0], -1, -1)


class VptInsert(_PromptTokens):
    """At ``visual.embed``: (B·T, N, D) -> (B·T, N + P, D), prompts right after the prefix
    tokens (class token; none for SigLIP); ``ctx.num_prefix_tokens`` grows by P."""

    def forward(self, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        s = ctx.num_prefix_tokens
        ctx.extras[_VPT_START] = s
        ctx.num_prefix_tokens = s + self.prompts.shape[0]
        return torch.cat([x[:, :s], self.tokens(x), x[:, s:]], dim=1)


class VptReplace(_PromptTokens):
    """At a deep block's ``block_in``: the prompt positions' states are replaced by this
    block's own prompts (VPT-deep), shape unchanged."""

    def forward(self, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        s, p = ctx.extras[_VPT_START], self.prompts.shape[0]
        return torch.cat([x[:, :s], self.tokens(x), x[:, s + p :]], dim=1)


class VptRemove(nn.Module):
    """At ``visual.out``: (B·T, N + P, D) -> (B·T, N, D), before pooling (class token or
    SigLIP's MAP head), so the tower's outputs keep their shape."""

    def __init__(self, num_tokens: int) -> None:
        super().__init__()
        self.num_tokens = num_tokens

    def forward(self, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        s = ctx.extras.pop(_VPT_START)
        ctx.num_prefix_tokens -= self.num_tokens
        return torch.cat([x[:, :s], x[:, s + self.num_tokens :]], dim=1)


@dataclass
class Vpt(Strategy):
    """VPT (Jia et al., "Visual Prompt Tuning", ECCV 2022): ``num_tokens`` learned tokens
    (P, D) join the image tower's input after the class token, the same for every frame;
    the frozen blocks attend to them. ``depth="shallow"`` (VPT-shallow) inserts them once at
    the input; ``"deep"`` (VPT-deep) also gives every later block its own P tokens, which
    replace the prompt positions' states at that block's input (L·P·D parameters in all).
    The prompt tokens are removed after the last block, so pooling (class token, or SigLIP's
    MAP head over all tokens) and ``VideoFeatures.tokens`` see the usual N tokens; block
    outputs in ``VideoFeatures.layers`` still carry them (N + P).

    Defaults are the reference code's (KMnP/vpt ``configs/config.py``): 5 tokens, shallow,
    no prompt dropout, uniform(±sqrt(6 / (3·patch² + D))) initialisation; the paper tunes
    the prompt length per task from {1, 5, 10, 50, 100, 200}.
    """

    name: ClassVar[str] = "vpt"
    family: ClassVar[str] = "prompt tuning"
    paper: ClassVar[str] = "Jia et al., ECCV 2022 (arXiv 2203.12119)"
    trains_backbone: ClassVar[bool] = True  # gradients reach the prompts through the image tower

    num_tokens: int = 5
    depth: str = "shallow"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_choice(self.name, "depth", self.depth, ("shallow", "deep"))
        check_int(self.name, "num_tokens", self.num_tokens)
        check_probability(self.name, "dropout", self.dropout)

    def apply(self, model: TransferModel) -> None:
        args = (self.num_tokens, model.width, model.backbone.token_layout.patch_size, self.dropout)
        model.insert("visual.embed", model.place(VptInsert(*args)), f"VPT prompts ({self.num_tokens} tokens)")
        if self.depth == "deep":
            for i in range(1, model.depth):
                model.insert(f"visual.blocks.{i}.block_in", model.place(VptReplace(*args)),
                             f"VPT-deep prompts ({self.num_tokens} tokens)")
        model.insert("visual.out", VptRemove(self.num_tokens), "VPT prompt removal before pooling")


# --------------------------------------------------------------------------------------
# X-CLIP: video-specific text prompts


class _PromptGeneratorLayer(nn.Module):
    """text + CrossAttn(LN(text), visual), then + MLP(LN(·)) with a 4× QuickGELU MLP. The
    cross-attention is vidlift's :class:`~vidlift.backbones.layers.Attention`: text queries
    (B, M, E) attend to visual tokens (B, N, E), no q/k/v bias and a biased output projection,
    as X-CLIP's."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, heads, bias=False, out_bias=True)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), QuickGELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        x = x + self.cross_attn(self.norm1(x), kv=visual)
        return x + self.mlp(self.norm3(x))


def _heads(dim: int) -> int:
    """X-CLIP's dim // 64 heads (8 at 512), at least 1, and a divisor of dim."""
    h = max(1, dim // 64)
    while dim % h:
        h -= 1
    return h


class VideoSpecificPrompt(nn.Module):
    """The text-conditioner role of :class:`XClipPrompt`: ``forward(text (M, E), features)
    -> (B, M, E)``. Visual context, as X-CLIP's ``encode_video``: the patch tokens of the
    image tower's last block, *before* ``ln_post`` (``features.layers[block]`` (B, T, N, D),
    prefix tokens — class token, ``extra_prefix`` VPT prompts — left out), through a
    LayerNorm per frame (``prompts_visual_ln``) and a D -> E projection
    (``prompts_visual_proj``), averaged over T (X-CLIP projects, then averages; the
    projection is linear, so averaging first is the same and cheaper), LayerNorm; then
    ``layers`` cross-attention blocks in which the class texts query that context; output
    text + alpha ⊙ generated, alpha a learned (E,) vector. ``block``: the index of the
    tower's last block (:class:`XClipPrompt` passes depth − 1)."""

    def __init__(self, width: int, embed_dim: int, layers: int, alpha: float, block: int = -1,
                 extra_prefix: int = 0) -> None:
        super().__init__()
        self.block = block
        self.extra_prefix = extra_prefix
        self.visual_ln = nn.LayerNorm(width)
        # X-CLIP draws this from N(0, 1); the LayerNorm below removes its overall scale.
        self.prompts_visual_proj = nn.Parameter(torch.randn(width, embed_dim))  # X-CLIP's own name
        self.norm = nn.LayerNorm(embed_dim)
        self.decoder = nn.ModuleList(_PromptGeneratorLayer(embed_dim, _heads(embed_dim)) for _ in range(layers))
        self.alpha = nn.Parameter(torch.full((embed_dim,), float(alpha)))
        for m in self.decoder.modules():  # X-CLIP: truncated normal(0.02) Linears, zero biases
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def patch_tokens(self, features: VideoFeatures) -> torch.Tensor:
        """(B, T, P, D): the last block's patch tokens (before ``ln_post``)."""
        if self.block not in features.layers:
            raise ValueError(f"xclip_prompt reads the image tower's last block (block {self.block}), but the "
                             f"features hold blocks {sorted(features.layers)}")
        return features.layers[self.block][:, :, features.num_prefix_tokens + self.extra_prefix :]

    def forward(self, text: torch.Tensor, features: VideoFeatures) -> torch.Tensor:
        dtype = self.alpha.dtype
        patches = self.visual_ln(self.patch_tokens(features).to(dtype)).mean(1)  # (B, P, D)
        visual = self.norm(patches @ self.prompts_visual_proj)  # (B, P, E)
        base = text.to(dtype).unsqueeze(0).expand(visual.shape[0], -1, -1)  # (B, M, E)
        gen = base
        for layer in self.decoder:
            gen = layer(gen, visual)
        return base + self.alpha * gen


@dataclass
class XClipPrompt(Strategy):
    """X-CLIP's video-specific prompting (Ni et al., "Expanding Language-Image Pretrained
    Models for General Video Recognition", ECCV 2022): the class text embeddings (M, E) are
    adapted to each video by a small generator in which the texts attend to the video's
    frame-averaged patch tokens; text ← text + alpha ⊙ generator(text, video) per video, so
    logits become (B, M) with a different text set per video.

    The visual context is what X-CLIP feeds its generator: the patch tokens of the image
    tower's last block before ``ln_post`` (``needs_layers`` -> [depth − 1]), not the final
    ``ln_post`` tokens. With :class:`Vpt` in the same model its prompt tokens, which stay in
    the block outputs, are left out too.

    Defaults are those X-CLIP trains with (microsoft/VideoX ``xclip.load``, also the HF
    ``XCLIPConfig``): 2 generator layers, alpha initialised to 0.1, E // 64 heads. (The
    ``XCLIP`` class's own default of 1e-4 / 1 layer is overridden by ``load``.) Only the
    generator trains; the backbone is untouched (``trains_backbone = False``), so on a frozen
    backbone it trains from cached features that hold the last block. It cannot be combined
    with ``distillation``, whose student gives no tokens.
    """

    name: ClassVar[str] = "xclip_prompt"
    family: ClassVar[str] = "prompt tuning"
    paper: ClassVar[str] = "Ni et al., ECCV 2022 (arXiv 2208.02816)"

    layers: int = 2
    alpha: float = 0.1

    def __post_init__(self) -> None:
        check_int(self.name, "layers", self.layers)
        check_number(self.name, "alpha", self.alpha)

    def needs_layers(self, depth: int) -> list[int]:
        return [depth - 1]

    def apply(self, model: TransferModel) -> None:
        model.backbone.require_text(self.name)  # it adapts class texts: meaningless without a text encoder
        # VPT's prompts sit after the class token in every block output (it removes them only
        # before ln_post), and features.num_prefix_tokens no longer counts them.
        extra = sum(s.num_tokens for s in model.strategies if isinstance(s, Vpt))
        gen = VideoSpecificPrompt(model.width, model.embed_dim, self.layers, self.alpha, model.depth - 1, extra)
        model.set_role("text_conditioner", model.place(gen),
                       f"X-CLIP video-specific prompt generator ({self.layers} layers)")


__all__ = ["CoOp", "Vpt", "XClipPrompt", "CoOpPrompt", "VideoSpecificPrompt", "VptInsert", "VptReplace",
           "VptRemove", "has_start_token", "shift_right"]
