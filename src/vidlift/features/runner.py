"""Decode clips in background workers and run them through a frozen image tower in batches.

Shared by ``vidlift extract``, the feature cache, ``vidlift zero-shot`` and the demo. Clips come
from :class:`~vidlift.data.clips.VideoClips`, so a bad video is what it is everywhere: an error
record naming the file, which becomes a failed :class:`ClipResult` (reported, skipped) and never
stops the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..backbones.contract import VisionLanguageBackbone
from ..data.clips import VideoClips
from ..data.sources import VideoItem


@dataclass
class ClipResult:
    """One video after the backbone. ``embeds`` (T, E) are projected frame embeddings;
    ``layers`` maps block index -> (T, N, D) tokens. On failure only ``error`` is set."""

    item: VideoItem
    error: str | None = None
    embeds: torch.Tensor | None = None
    layers: dict[int, torch.Tensor] = field(default_factory=dict)
    indices: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    fps: float = 0.0
    duration: float = 0.0


def _first(batch: list[dict[str, Any]]) -> dict[str, Any]:
    return batch[0]


def iter_clip_features(
    model: VisionLanguageBackbone,
    dataset: VideoClips,
    batch_size: int = 4,
    layers: Sequence[int] = (),
    workers: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Iterator[ClipResult]:
    """Yield one :class:`ClipResult` per video, in input order.

    Clips with the same number of frames are stacked up to ``batch_size`` per forward pass;
    the views of a multi-clip sampler are one sequence of frames, in decode order. ``dtype``
    other than float32 runs the tower under autocast (bf16 / fp16 inference).
    """
    loader = DataLoader(dataset, batch_size=1, collate_fn=_first, num_workers=workers,
                        persistent_workers=False, prefetch_factor=2 if workers else None)
    device = torch.device(device)
    pending: list[dict[str, Any]] = []

    def flush() -> Iterator[ClipResult]:
        if not pending:
            return
        clips = torch.stack([p["video"] for p in pending]).to(device)
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            out = model.forward_video_features(clips, layers=list(layers))
            embeds = model.project_image(out.pooled)
        for j, p in enumerate(pending):
            yield ClipResult(
                item=dataset.videos[p["index"]],
                embeds=embeds[j].float().cpu(),
                layers={k: v[j].float().cpu() for k, v in out.layers.items()},
                indices=p["frame_indices"].numpy(), timestamps=p["timestamps"].numpy(), fps=float(p["fps"]),
                duration=float(p["duration"]),
            )
        pending.clear()

    for sample in loader:
        if "error" in sample:
            yield from flush()  # keep results in input order
            yield ClipResult(item=dataset.videos[sample["index"]], error=sample["error"])
            continue
        if sample["video"].ndim == 5:  # views (V, T, 3, S, S) -> one sequence of V·T frames
            sample["video"] = sample["video"].flatten(0, 1)
        if pending and pending[0]["video"].shape != sample["video"].shape:
            yield from flush()
        pending.append(sample)
        if len(pending) >= batch_size:
            yield from flush()
    yield from flush()
