"""What a grounding head is to the grounding task: inputs, outputs, targets and the contract.

The task (:mod:`.task`) turns a batch of whole videos (one frame per clip unit, QVHighlights'
2 s, encoded in windows through any transfer strategy) and their text queries into
:class:`GroundingInputs`; a :class:`GroundingHead` maps them to :class:`GroundingOutput`
(moment windows with scores, per-clip saliency) and computes its own training losses against
:class:`GroundingTargets`. Heads never see pixels, a backbone or a strategy: only these
tensors. Shapes (B queries, N clip units padded to the longest video of the batch, L text
tokens, C the clip sequence's width, D the text tower's width, E the joint space)::

    clips (B, N, C) · clip_mask (B, N) ─┐
    query (B, L, D) · query_mask (B, L) ─┼─ head ─▶ windows (B, Q, 2) in [0, 1] · scores (B, Q)
    query_embedding (B, E)              ─┘          saliency (B, N)

Windows are (start, end) as fractions of the *video's own* length ``num_clips * clip_length``
(each row's real clips, not the padded N), so a head never needs seconds; the task converts
to seconds, clamps to the duration and post-processes (:mod:`.postprocess`).

A video head that conditions on the query (R²-Tuning's side network) provides the clip
sequence itself: it has ``query_states(features, text) -> (B, N, C)``, ``state_dim`` (C) and
``text_layers(depth) -> [block indices]`` (the text tower's layers it reads); the task
computes :class:`TextQuery` with those layers and passes the states on as ``clips``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn


@dataclass
class TextQuery:
    """A batch of text queries as the text tower gives them.

    tokens: (B, L, D) final token states (before the projection); mask: (B, L) True on real
    tokens (start to end token); embedding: (B, E) joint-space sentence embeddings;
    layers: {block index: (B, L, D)} block outputs a head or video head asked for.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    embedding: torch.Tensor
    layers: dict[int, torch.Tensor] = field(default_factory=dict)


@dataclass
class GroundingInputs:
    """clips: (B, N, C) the clip sequence (per-clip video embeddings, or query-conditioned
    states); clip_mask: (B, N) True on real clips; clip_embedding: (B, N, E) per-clip
    joint-space embeddings (the frozen or adapted image tower's, for similarity-based
    saliency); text: the :class:`TextQuery`; extras: what a query-conditioned video head put
    in the ``extras`` dict of its ``query_states`` (R²-Tuning: its query tokens and layer-wise
    embeddings, for its losses), empty otherwise."""

    clips: torch.Tensor
    clip_mask: torch.Tensor
    clip_embedding: torch.Tensor
    text: TextQuery
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class GroundingTargets:
    """Training targets of a batch.

    windows: per query a (M_i, 2) float tensor of (start, end) ground-truth windows as
    fractions of the video's length (see the module docstring); saliency: (B, N) float, the
    per-clip saliency score summed over annotators (0 outside the relevant clips and on
    padding); saliency_mask: (B, N) True on real clips; relevant: (B, N) True on the clips the
    annotation marks relevant (QVHighlights' ``relevant_clip_ids``, else the clips inside a
    window); annotated: (B,) bool, True where the annotation has saliency scores (False for
    Charades-STA, TACoS, ActivityNet: their saliency is 1 on the relevant clips, no ranking);
    None: all annotated.
    """

    windows: list[torch.Tensor]
    saliency: torch.Tensor
    saliency_mask: torch.Tensor
    relevant: torch.Tensor
    annotated: torch.Tensor | None = None


@dataclass
class GroundingOutput:
    """windows: (B, Q, 2) (start, end) fractions of each video's length; scores: (B, Q) the
    confidence of each window (higher first); saliency: (B, N) per-clip saliency (any real
    scale, higher = more relevant; padding ignored); extras: whatever the head's own loss
    needs (logits, pyramid outputs); window_mask: (B, Q) True on the windows a row really
    has, for heads whose number of windows differs from row to row (R²'s points depend on the
    video's length) and pad the short rows; None: every window is real (Moment-DETR's fixed
    queries). Padded windows never reach a submission."""

    windows: torch.Tensor
    scores: torch.Tensor
    saliency: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)
    window_mask: torch.Tensor | None = None


class GroundingHead(nn.Module, ABC):
    """Base of every grounding head. Subclasses set :attr:`name` and :attr:`paper`, take
    ``(clip_dim, text_dim, embed_dim, **hyper-parameters)`` and implement both methods."""

    name: ClassVar[str]
    paper: ClassVar[str] = ""
    text_layers: ClassVar[tuple[int, ...]] = ()  # text blocks the head reads (none by default)
    # the strategy whose query-conditioned video head the head reads (its extras), if any: the
    # task refuses other strategies at setup, naming both
    needs_video_head: ClassVar[str | None] = None

    @abstractmethod
    def forward(self, inputs: GroundingInputs) -> GroundingOutput:
        """Predict windows, their scores and per-clip saliency."""

    @abstractmethod
    def loss(self, output: GroundingOutput, targets: GroundingTargets) -> dict[str, torch.Tensor]:
        """The head's weighted training losses by name (the task sums them)."""


@runtime_checkable
class QueryConditionedVideoHead(Protocol):
    """A video head (transfer role ``video_head``) that computes the clip sequence from the
    backbone's features *and* the text query (R²-Tuning). ``query_states`` gets the clip mask
    (B, N) (None: all real) and may fill ``extras`` (a dict the task then passes on as
    :attr:`GroundingInputs.extras`)."""

    state_dim: int

    def text_layers(self, depth: int) -> list[int]:
        ...

    def query_states(self, features: Any, text: TextQuery, clip_mask: torch.Tensor | None = None,
                     extras: dict[str, Any] | None = None) -> torch.Tensor:
        ...


# Every grounding head, one line each: ``task.head`` name -> "module:Class" (imported when
# built, so a head's module may import heavy or optional packages).
HEADS: dict[str, str] = {
    "moment_detr": "vidlift.tasks.grounding.moment_detr:MomentDETR",
    "r2": "vidlift.tasks.grounding.r2_head:R2GroundingHead",
}


def head_class(name: str) -> type[GroundingHead]:
    """The head class called ``name``; an unknown name fails with the known ones."""
    import importlib

    if name not in HEADS:
        raise ValueError(f"unknown grounding head {name!r}; heads: {', '.join(HEADS)}")
    module, cls = HEADS[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["HEADS", "head_class", "GroundingHead", "GroundingInputs", "GroundingOutput", "GroundingTargets",
           "QueryConditionedVideoHead", "TextQuery"]
