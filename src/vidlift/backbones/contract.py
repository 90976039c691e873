"""The backbone contract: everything code outside :mod:`vidlift.backbones` may use of a model.

Transfer strategies, tasks, the engine and feature extraction talk to a backbone only through
:class:`VisionLanguageBackbone` (and the :class:`TowerBlock` / :class:`TextEncoder` objects it
hands out), never through a family's attributes (``visual``, ``ln_post``, ``q_proj`` …). A new
family (EVA-CLIP's RoPE + SwiGLU tower, a multimodal LLM) plugs in by implementing this class;
what it cannot offer it refuses with :class:`BackboneCapabilityError`, naming the caller and
the family, instead of letting a strategy compute something else.

The surface, by concern:

=====================  ========================================================================
identity               ``family``, ``config_dict()``, ``preprocess_config``, ``new_like()``
image tower            ``vision_depth``, ``vision_width``, ``embed_dim``, ``token_layout``,
                       ``forward_video_features(video, layers)``, ``project_image``,
                       ``encode_video``, ``encode_image``, ``image_tower_like(width, layers, heads, who)``,
                       ``final_norm(x, who)``
hook sites             ``hook_sites()``, ``add_hook(site, module)``, ``vision_block(i)``
                       (a :class:`TowerBlock`: its own attention reusable along another axis)
text (a capability)    ``text_encoder`` (a :class:`TextEncoder` or ``None``),
                       ``require_text(who)``
joint space            ``logits(v, t)``, ``scale_similarity(cos)``, ``score_activation``,
                       ``logit_scale_value()``
parameters by role     ``parameter_names(tower, part, index)``, ``layer_index(name)``,
                       ``lora_targets(towers, kinds)``, ``is_table(name)``,
                       ``tower_parameter_count(tower)``
runtime                ``device``, ``dtype``, ``set_grad_checkpointing``
=====================  ========================================================================

Hook sites are strings: ``visual.embed`` (tokens after patch + position embedding, where
prompts are prepended), ``visual.out`` (final tokens before pooling), ``visual.blocks.<i>.
<site>`` with the block sites of :data:`vidlift.backbones.layers.BLOCK_SITES`, and the same
under ``text.`` when the backbone has a text encoder. A hook is ``module(x, ctx) -> x`` with
``ctx`` a :class:`~vidlift.backbones.layers.BlockContext` (frame count, prefix-token count,
the running block as a :class:`TowerBlock`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

if TYPE_CHECKING:
    from .config import PreprocessConfig
    from .text import TextOutput
    from .vision import VisionOutput

# Parts of a tower whose parameters a strategy may ask for by role (partial tuning, LoRA).
PARTS = ("embed", "block", "head", "norm", "bias", "projection")
# Linear maps inside blocks that LoRA may target, by role rather than by a family's module name.
LORA_KINDS = ("attn_q", "attn_k", "attn_v", "attn_out", "mlp_in", "mlp_out")


class BackboneCapabilityError(ValueError):
    """A caller asked a backbone for something its family does not offer."""

    def __init__(self, who: str, family: str, capability: str, hint: str = "") -> None:
        self.who, self.family, self.capability = who, family, capability
        msg = f"{who} needs {capability}, which the {family} backbone does not offer"
        super().__init__(msg + (f"; {hint}" if hint else ""))


@dataclass(frozen=True)
class TokenLayout:
    """The image tower's token sequence at its native resolution: ``num_prefix_tokens`` tokens
    before ``grid[0] × grid[1]`` patch tokens of width ``width``; ``class_token``: whether the
    first prefix token is a class token that summarises the image (CLIP, EVA: yes; SigLIP has
    no prefix; a tower with register tokens has prefix tokens that are not one)."""

    num_prefix_tokens: int
    grid: tuple[int, int]
    width: int
    patch_size: int
    class_token: bool = False

    @property
    def num_tokens(self) -> int:
        return self.num_prefix_tokens + self.grid[0] * self.grid[1]


class TowerBlock(ABC):
    """What a strategy may use of one transformer block, beyond its hook sites.

    Implemented by each family's block module; reached as ``backbone.vision_block(i)`` or, inside
    a hook, as ``ctx.block``. Methods that reuse the block's own (frozen) attention on another
    axis raise :class:`BackboneCapabilityError` where the tower's attention is tied to positions
    in a way that makes the reuse compute something else.
    """

    hooks: Any  # a HookPoints module: sites of vidlift.backbones.layers.BLOCK_SITES

    @abstractmethod
    def attend_sequence(self, x: torch.Tensor, who: str) -> torch.Tensor:
        """The block's own pre-attention norm and attention over arbitrary sequences, with
        no positional term: x (S, L, D) -> (S, L, D). AIM runs it along time."""

    @abstractmethod
    def attention_query_key(self, x: torch.Tensor, who: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Queries and keys of the block's own attention for its input x (..., N, D) (norm
        applied): (..., N, H, d) each. EVL's temporal cross-attention reads them."""

    @abstractmethod
    def attention_copy(self, who: str) -> tuple[nn.Module, nn.Module]:
        """Fresh trainable copies (norm, attention) of the block's pre-attention norm and
        attention, the attention called as :class:`vidlift.backbones.layers.Attention` is
        (``forward(x, kv=None, attn_mask=None)``) over any sequence; divided space-time
        attention starts from them. The family's own attention class may be returned (EVA's)."""

    @property
    @abstractmethod
    def num_heads(self) -> int: ...


class TextEncoder(ABC):
    """The text side of a dual encoder, as a capability: ``backbone.text_encoder`` is one of
    these or ``None`` (a generative language model is a different capability)."""

    context_length: int
    width: int
    depth: int
    pad_token_id: int  # what fills a row after its end token (CoOp lengthens rows with it)

    @abstractmethod
    def encode(self, input_ids: torch.Tensor, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids (M, L) -> joint-space embeddings (M, E), un-normalised. ``inputs_embeds``
        (M, L, D) replaces the token embeddings (text prompts); ids still locate the pooled token."""

    @abstractmethod
    def features(self, input_ids: torch.Tensor, layers: list[int] | str | None = None) -> TextOutput:
        """input_ids (M, L) -> pooled (M, D) before projection, tokens (M, L, D), layers {i: (M, L, D)}."""

    @abstractmethod
    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids (M, L) -> token embeddings (M, L, D) (before position embeddings)."""

    @property
    @abstractmethod
    def token_embedding_weight(self) -> torch.Tensor:
        """(vocab, D): the token table (CoOp initialises its context from it)."""

    @abstractmethod
    def pool_index(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Position (M,) whose final state is the sentence embedding."""

    @abstractmethod
    def end_index(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Position (M,) of the end-of-text token (where text after a prompt must stop)."""

    @abstractmethod
    def truncate(self, input_ids: torch.Tensor, max_tokens: int) -> torch.Tensor:
        """Keep at most ``max_tokens`` tokens per row (start and end tokens included): a longer
        row keeps its first ``max_tokens - 1`` tokens and its end-of-text token, then padding.
        The shape (M, L) is unchanged, so pooling still finds the end token."""

    def transformer_init(self, width: int, layers: int, heads: int) -> tuple[torch.Tensor, list[nn.Module]] | None:
        """Fresh trainable copies of the position table (L, D) and of the first ``layers``
        blocks, as :class:`~vidlift.backbones.layers.ResidualBlock` with ``heads`` heads (frozen
        base weights, never adapter tensors), for modules that start as a copy of the text
        transformer (CLIP4Clip's seqTransf); ``None`` where the tower has no such blocks of
        width ``width`` with a 4·width MLP."""
        return None


class VisionLanguageBackbone(nn.Module, ABC):
    """An image-language foundation model as the rest of vidlift sees it (module docstring)."""

    family: ClassVar[str]  # "clip", "siglip", "eva-clip" …: named in errors

    # -- identity --------------------------------------------------------------------------
    @abstractmethod
    def config_dict(self) -> dict[str, Any]:
        """The architecture and preprocessing as plain JSON-able data (cache keys, deltas)."""

    @property
    @abstractmethod
    def preprocess_config(self) -> PreprocessConfig: ...

    @abstractmethod
    def new_like(self) -> VisionLanguageBackbone:
        """A freshly initialised model of the same architecture (plain parameter names)."""

    # -- image tower -----------------------------------------------------------------------
    @property
    @abstractmethod
    def vision_depth(self) -> int: ...

    @property
    @abstractmethod
    def vision_width(self) -> int: ...

    @property
    @abstractmethod
    def embed_dim(self) -> int: ...

    @property
    @abstractmethod
    def token_layout(self) -> TokenLayout: ...

    @abstractmethod
    def forward_video_features(self, video: torch.Tensor, layers: list[int] | str | None = None) -> VisionOutput:
        """video (B, T, C, H, W) -> pooled (B, T, D) before projection, final tokens
        (B, T, N, D), ``layers`` {block index: (B, T, N, D)} (block outputs), prefix count."""

    @abstractmethod
    def project_image(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled image-tower output (..., D) -> joint space (..., E)."""

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, T, C, H, W) -> per-frame embeddings (B, T, E)."""
        return self.project_image(self.forward_video_features(video).pooled)

    @abstractmethod
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> (B, E)."""

    def final_norm(self, x: torch.Tensor, who: str) -> torch.Tensor:
        """The image tower's norm after its blocks (CLIP's ``ln_post``) applied to x (..., D):
        what the tower applies to its last block's tokens before pooling (``visual.out`` hooks
        come after it and do not run here). ST-Adapter's video head normalises the class token
        averaged over frames with it. A family without such a norm refuses with
        :class:`BackboneCapabilityError` naming ``who`` (the default)."""
        raise BackboneCapabilityError(who, self.family, "its image tower's final norm (ln_post)")

    def image_tower_like(self, width: int, layers: int, heads: int, who: str) -> nn.Module:
        """A freshly initialised image tower of this family's design (patch size, resolution,
        pooling, activation, norms) at another size, for training from scratch (the
        tower_compression student): ``forward(video (B, T, C, H, W))`` -> a :class:`~vidlift.backbones.vision.
        VisionOutput` whose ``pooled`` is (B, T, width). A family that cannot build one refuses
        with :class:`BackboneCapabilityError` naming ``who`` (the default)."""
        raise BackboneCapabilityError(who, self.family, "an image tower of its own design at another size")

    # -- hook sites ------------------------------------------------------------------------
    @abstractmethod
    def hook_sites(self) -> list[str]:
        """Every site a module can be added at, in forward order (module docstring)."""

    @abstractmethod
    def add_hook(self, site: str, module: nn.Module) -> None:
        """Add ``module`` at ``site`` (negative block indices count from the end); KeyError for
        an unknown site."""

    @abstractmethod
    def vision_block(self, index: int) -> TowerBlock:
        """Block ``index`` of the image tower (negative counts from the end)."""

    # -- text, as a capability ---------------------------------------------------------------
    @property
    @abstractmethod
    def text_encoder(self) -> TextEncoder | None: ...

    def require_text(self, who: str) -> TextEncoder:
        """The text encoder, or a :class:`BackboneCapabilityError` naming ``who``."""
        if self.text_encoder is None:
            raise BackboneCapabilityError(who, self.family, "a text encoder")
        return self.text_encoder

    # -- joint space -----------------------------------------------------------------------
    @property
    @abstractmethod
    def score_activation(self) -> Literal["softmax", "sigmoid"]:
        """How logits become probabilities for these weights (CLIP: softmax, SigLIP: sigmoid)."""

    @abstractmethod
    def logit_scale_value(self) -> torch.Tensor:
        """The (learned) multiplier of cosine similarities, exp(logit_scale), as a 0-d tensor."""

    @abstractmethod
    def scale_similarity(self, cosine: torch.Tensor) -> torch.Tensor:
        """Cosine similarities (any shape) -> logits (scale, plus bias where the family has one)."""

    def logits(self, visual_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """(…, E) × (M, E) -> (…, M) scaled cosine similarities."""
        v = nn.functional.normalize(visual_emb, dim=-1)
        t = nn.functional.normalize(text_emb, dim=-1)
        return self.scale_similarity(v @ t.t())

    # -- parameters by role --------------------------------------------------------------------
    @abstractmethod
    def parameter_names(self, tower: str, part: str, index: int | None = None) -> list[str]:
        """Names (as in ``named_parameters()``) of ``tower`` ("visual" / "text") by ``part``
        (:data:`PARTS`): ``embed`` (before the blocks), ``block`` (block ``index``; negative
        counts from the end), ``head`` (after the blocks, projection included), ``norm``
        (every norm's gain and bias), ``bias`` (every bias), ``projection`` (into the joint
        space). Only the family's own parameters, never inserted modules'."""

    def tower_parameter_count(self, tower: str) -> int:
        """Parameters of a tower itself: embedding, blocks and what follows them, without the
        projection into the joint space (the size a model card gives for an image tower)."""
        depth = self.vision_depth if tower == "visual" else self.require_text("tower_parameter_count").depth
        names = set(self.parameter_names(tower, "embed")) | set(self.parameter_names(tower, "head"))
        for i in range(depth):
            names |= set(self.parameter_names(tower, "block", i))
        names -= set(self.parameter_names(tower, "projection"))
        return sum(p.numel() for n, p in self.named_parameters() if n in names)

    @abstractmethod
    def layer_index(self, name: str) -> tuple[str, int] | None:
        """(tower, depth index) of a backbone parameter for layer-wise lr decay: 0 for the
        embedding, i + 1 for block i, depth + 1 after the blocks; None for the joint-space
        scalars (logit scale / bias)."""

    @abstractmethod
    def lora_targets(self, towers: Sequence[str], kinds: Sequence[str]) -> str:
        """A regex that matches, in full, the names of the Linear modules of ``kinds``
        (:data:`LORA_KINDS`) in the blocks of ``towers`` (what PEFT's ``target_modules`` takes)."""

    @abstractmethod
    def is_table(self, name: str) -> bool:
        """Whether a backbone parameter is a token or position table rather than a weight (no
        weight decay, as CLIP and ViT train them)."""

    # -- runtime -----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @abstractmethod
    def set_grad_checkpointing(self, enable: bool = True) -> None: ...


__all__ = [
    "PARTS", "LORA_KINDS", "BackboneCapabilityError", "TokenLayout", "TowerBlock", "TextEncoder",
    "VisionLanguageBackbone",
]
