"""Post-network tuning: a trainable network placed *after* the frozen image tower, reading the
per-frame embeddings (B, T, E) and giving one clip embedding (B, E) in the joint space (the
survey's "post-network tuning" family). Three video heads, each a
:class:`~vidlift.transfer.base.Strategy` that fills the ``video_head`` role:

- :class:`MeanPoolHead` — the parameter-free average over frames (CLIP4Clip's *meanP*);
- :class:`TemporalTransformer` — CLIP4Clip's *seqTransf*: frame position embeddings and a
  small transformer over the frames, with a residual to the frame embeddings, then the mean;
- :class:`TemporalConv` — vidlift's own residual two-layer 1-D convolution over the frames,
  zero-initialised so it starts as meanP (a baseline, not a published method).

The heads read only ``VideoFeatures.frames``, so they train from cached features, and they
compose with strategies that adapt the backbone (LoRA + temporal transformer is the survey's
recommended pairing, since LoRA alone models no time): ``needs_frozen_backbone`` is False.
Each head has ``frame_outputs(features) -> (B, T, E)``, the per-frame sequence before the mean.

``normalize_frames`` (meanP and seqTransf, default False): L2-normalise every frame's output
before the mean, as CLIP4Clip's ``_loose_similarity`` (``modules/modeling.py``) divides each
frame of ``visual_output`` by its norm just before ``_mean_pooling_for_similarity_visual`` —
after seqTransf's residual for seqTransf, on CLIP's raw frame embeddings for meanP; the
transformer itself reads the un-normalised frames. (CLIP4Clip normalises the mean again; the
logits normalise the clip embedding anyway.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...backbones.layers import BlockContext, Transformer, init_weights
from ..base import MeanPool, Strategy, TransferCompositionError, VideoFeatures
from ..checks import check_bool, check_int
from ..model import TransferModel

# Without a text tower to copy, seqTransf's blocks are CLIP's text blocks' design: QuickGELU, LN eps 1e-5;
# and its position table has as many rows as CLIP's text context.
_DEFAULT_ACT, _DEFAULT_LN_EPS, _DEFAULT_ROWS = "quick_gelu", 1e-5, 77


def _frames(features: VideoFeatures, module: nn.Module) -> torch.Tensor:
    """features.frames (B, T, E) in the head's dtype (the backbone may run in half precision)."""
    x = features.frames
    if x.ndim != 3:
        raise ValueError(f"a video head needs frame embeddings (B, T, E), got shape {tuple(x.shape)}")
    p = next(module.parameters(), None)
    return x if p is None else x.to(p.dtype)


# -- meanP -------------------------------------------------------------------------------------
class NormalizedMeanPool(MeanPool):
    """CLIP4Clip's meanP as its code computes it: each frame embedding L2-normalised, then the
    mean: (B, T, E) -> (B, E). ``pre_projection`` stays :class:`MeanPool`'s (the mean of the
    pooled frame features): the normalisation lives in the joint space."""

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        return F.normalize(features.frames, dim=-1).mean(1)


@dataclass
class MeanPoolHead(Strategy):
    """Mean pooling over frames (Luo et al., "CLIP4Clip: An Empirical Study of CLIP for End to
    End Video Clip Retrieval", Neurocomputing 2022, the parameter-free *meanP* similarity).
    ``(B, T, E) -> (B, E)``: the average of the frozen frame embeddings, each L2-normalised
    first with ``normalize_frames`` (CLIP4Clip's code; module docstring). No parameters;
    without the normalisation it is also what a model without a video head does, declared here
    so it can be named and compared.
    """

    name: ClassVar[str] = "mean_pool"
    family: ClassVar[str] = "post-network tuning"
    paper: ClassVar[str] = "Luo et al., Neurocomputing 2022 (arXiv 2104.08860), meanP"
    normalize_frames: bool = False

    def __post_init__(self) -> None:
        check_bool(self.name, "normalize_frames", self.normalize_frames)

    def apply(self, model: TransferModel) -> None:
        if self.normalize_frames:
            model.set_role("video_head", NormalizedMeanPool(), "mean over L2-normalised frames (CLIP4Clip's meanP)")
        else:
            model.set_role("video_head", MeanPool(), "mean over frames (meanP)")


# -- seqTransf ---------------------------------------------------------------------------------
class TemporalTransformerHead(nn.Module):
    """CLIP4Clip's seqTransf head: frames x (B, T, E) -> x + Transformer(x + P[:T]), mean over T.

    P is a learned table of ``max_frames`` frame position embeddings (E); the transformer is
    ``layers`` pre-LN residual attention blocks of width E (CLIP text blocks: attention, then a
    4E MLP), ``heads`` heads, no attention mask (every frame sees every frame).
    :meth:`init_from` starts both as copies of a text tower's. With ``normalize_frames`` each
    frame of the output is L2-normalised before the mean (CLIP4Clip's code).
    """

    def __init__(self, dim: int, layers: int, heads: int, max_frames: int, act: str, ln_eps: float,
                 normalize_frames: bool = False) -> None:
        super().__init__()
        self.normalize_frames = normalize_frames
        self.frame_position_embeddings = nn.Parameter(torch.zeros(max_frames, dim))
        self.transformer = Transformer(dim, layers, heads, 4 * dim, act, ln_eps)
        # CLIP4Clip's init_weights (BERT-style): normal(0, 0.02) weights, zero biases, unit norms.
        nn.init.normal_(self.frame_position_embeddings, std=0.02)
        init_weights(self.transformer, std=0.02)

    @torch.no_grad()
    def init_from(self, positions: torch.Tensor, blocks: list[nn.Module]) -> None:
        """Start as a copy of a transformer: the first rows of ``positions`` (L, E) and
        ``blocks``, copies made for this head (``TextEncoder.transformer_init`` with this
        head's heads: frozen base weights under LoRA wrappers, never the LoRA tensors — at build
        time B = 0, so the base weight is the layer's function)."""
        n = min(self.frame_position_embeddings.shape[0], positions.shape[0])
        self.frame_position_embeddings[:n].copy_(positions[:n])
        self.transformer.blocks = nn.ModuleList(blocks)

    def frame_outputs(self, features: VideoFeatures) -> torch.Tensor:
        """(B, T, E) -> (B, T, E): the frames after temporal self-attention, with the residual."""
        x = _frames(features, self)
        t = x.shape[1]
        if t > self.frame_position_embeddings.shape[0]:
            raise ValueError(f"temporal_transformer holds {self.frame_position_embeddings.shape[0]} frame positions, "
                             f"got a {t}-frame clip; raise max_frames")
        h = x + self.frame_position_embeddings[:t]
        h, _ = self.transformer(h, BlockContext("video_head"))
        return h + x  # CLIP4Clip adds the original frame embeddings back

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        h = self.frame_outputs(features)
        return (F.normalize(h, dim=-1) if self.normalize_frames else h).mean(1)


@dataclass
class TemporalTransformer(Strategy):
    """CLIP4Clip's sequential transformer similarity, *seqTransf* (Luo et al., "CLIP4Clip: An
    Empirical Study of CLIP for End to End Video Clip Retrieval", Neurocomputing 2022;
    github.com/ArrowLuo/CLIP4Clip, ``modules/modeling.py``). Over the frame embeddings
    (B, T, E): add learned frame position embeddings, run ``layers`` transformer blocks of
    width E with ``heads`` heads (None: E // 64 as CLIP4Clip derives it, at least 1), add the
    input frames back (residual), average over T -> (B, E).

    Defaults follow CLIP4Clip: 4 layers (``cross_num_hidden_layers``), a position table with as
    many rows as the text tower's context (77 for CLIP), and its initialisation trick: when the
    text tower has width E (ViT-B/32: 512 = E), the position table and the blocks start as a
    copy of CLIP's text positional embedding and its first ``layers`` text blocks
    (``init_from_text``; the text encoder offers them through ``TextEncoder.transformer_init``);
    otherwise normal(0, 0.02) init of blocks of CLIP's text design (QuickGELU, LN eps 1e-5).
    Only the head trains (12.65M parameters at ViT-B/32). ``max_frames`` (None: the text
    context length, 77 without a text encoder) bounds T. ``normalize_frames`` (default False,
    vidlift's behaviour so far): L2-normalise each output frame before the mean, where
    CLIP4Clip's ``_loose_similarity`` does (after the residual; the transformer reads the raw
    frames); turn it on to reproduce CLIP4Clip.
    """

    name: ClassVar[str] = "temporal_transformer"
    family: ClassVar[str] = "post-network tuning"
    paper: ClassVar[str] = "Luo et al., Neurocomputing 2022 (arXiv 2104.08860), seqTransf"
    layers: int = 4
    heads: int | None = None
    max_frames: int | None = None
    init_from_text: bool = True
    normalize_frames: bool = False

    def __post_init__(self) -> None:
        check_int(self.name, "layers", self.layers)
        check_int(self.name, "heads", self.heads, optional=True)
        check_int(self.name, "max_frames", self.max_frames, optional=True)
        check_bool(self.name, "init_from_text", self.init_from_text)
        check_bool(self.name, "normalize_frames", self.normalize_frames)

    def apply(self, model: TransferModel) -> None:
        e = model.embed_dim
        text = model.backbone.text_encoder
        heads = self.heads or max(1, e // 64)
        if e % heads:
            raise TransferCompositionError(f"{self.name}: embedding width {e} is not divisible by {heads} heads")
        rows = self.max_frames or (text.context_length if text is not None else _DEFAULT_ROWS)
        head = TemporalTransformerHead(e, self.layers, heads, rows, _DEFAULT_ACT, _DEFAULT_LN_EPS,
                                       self.normalize_frames)
        what = f"seqTransf {self.layers}x{e}, {heads} heads"
        if self.normalize_frames:
            what += ", L2-normalised frames"
        init = text.transformer_init(e, self.layers, heads) if self.init_from_text and text is not None else None
        if init is not None:
            head.init_from(*init)
            what += ", initialised from the text tower"
        model.set_role("video_head", model.place(head), what)


# -- temporal convolution ----------------------------------------------------------------------
class TemporalConvHead(nn.Module):
    """frames x (B, T, E) -> x + conv2(ReLU(conv1(LN(x)))) over T, mean over T.

    conv1: E -> ``hidden``, conv2: ``hidden`` -> E, both 1-D over time with ``kernel_size``
    (zero padding, so T is kept). conv2 is zero-initialised: the head starts as meanP.
    Receptive field 2·(kernel_size − 1) + 1 frames.
    """

    def __init__(self, dim: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv1 = nn.Conv1d(dim, hidden, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(hidden, dim, kernel_size, padding=kernel_size // 2)
        # Zero-init the output convolution (as zero-init up-projections in adapters) so the
        # head is exactly mean pooling before training.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def frame_outputs(self, features: VideoFeatures) -> torch.Tensor:
        x = _frames(features, self)
        h = self.norm(x).transpose(1, 2)  # (B, E, T)
        h = self.conv2(F.relu(self.conv1(h)))
        return x + h.transpose(1, 2)

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        return self.frame_outputs(features).mean(1)


@dataclass
class TemporalConv(Strategy):
    """Residual 1-D temporal convolution over the frame embeddings, then the mean: vidlift's
    own simple temporal baseline, not a published method. LayerNorm, Conv1d(k) -> ReLU ->
    Conv1d(k) over T, added to the frames as CLIP4Clip's sequential heads (seqLSTM /
    seqTransf) add their output to the frame embeddings (Luo et al., Neurocomputing 2022). The
    two-convolution shape is that of R²-Tuning's ``ConvHead`` (Liu et al., ECCV 2024;
    ``models/blocks.py``), but there it is a prediction head — the class (saliency) and
    boundary heads that map the feature pyramid's states to 1 or 2 outputs per clip — not a
    temporal module on CLIP frame features. The second convolution is zero-initialised, so
    training starts from meanP. A convolution alone would be useless before a mean (a linear
    filter followed by the mean only reweights the clip ends); the ReLU between the two makes
    it a temporal feature detector.

    ``(B, T, E) -> (B, E)``; ``hidden`` (None: E) channels, ``kernel_size`` 3. Only the head
    trains (1.57M parameters at E = 512).
    """

    name: ClassVar[str] = "temporal_conv"
    family: ClassVar[str] = "post-network tuning"
    paper: ClassVar[str] = "none (vidlift baseline; residual as Luo et al. 2022, conv shape of R²-Tuning's ConvHead)"
    kernel_size: int = 3
    hidden: int | None = None

    def __post_init__(self) -> None:
        check_int(self.name, "kernel_size", self.kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"{self.name}: kernel_size must be odd (same-length padding), got {self.kernel_size}")
        check_int(self.name, "hidden", self.hidden, optional=True)

    def apply(self, model: TransferModel) -> None:
        e = model.embed_dim
        hidden = self.hidden or e
        model.set_role("video_head", model.place(TemporalConvHead(e, hidden, self.kernel_size)),
                       f"temporal conv {e}->{hidden}->{e}, k={self.kernel_size}")


__all__ = [
    "MeanPoolHead", "NormalizedMeanPool", "TemporalTransformer", "TemporalTransformerHead", "TemporalConv",
    "TemporalConvHead",
]
