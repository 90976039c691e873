"""Decode clips in background workers and run them through a frozen image tower in batches.

Shared by ``vidlift extract`` and ``vidlift zero-shot``: a bad video becomes a failure
record (reported, skipped) and never stops the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..backbones.model import CLIP
from ..data.sources import VideoItem
from ..data.transforms import VideoTransform
from ..data.video import FrameSampler, VideoDecodeError, read_video


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


class ClipDataset(Dataset):
    """Decoded, preprocessed clips: each item is a dict with ``frames`` (T, 3, S, S) or ``error``."""

    def __init__(self, items: Sequence[VideoItem], sampler: FrameSampler, transform: VideoTransform,
                 backend: str = "pyav", seed: int = 0) -> None:
        self.items = list(items)
        self.sampler = sampler
        self.transform = transform
        self.backend = backend
        self.seed = seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.items[i]
        try:
            video = read_video(item.path, self.sampler, backend=self.backend, rng=np.random.default_rng(self.seed + i))
        except (VideoDecodeError, ValueError, FileNotFoundError) as e:
            return {"index": i, "error": f"{type(e).__name__}: {e}"}
        return {
            "index": i,
            "frames": self.transform(video.frames),
            "indices": video.indices,
            "timestamps": video.timestamps,
            "fps": video.info.fps,
            "duration": video.info.duration,
        }


def _first(batch: list[dict[str, Any]]) -> dict[str, Any]:
    return batch[0]


def iter_clip_features(
    model: CLIP,
    dataset: ClipDataset,
    batch_size: int = 4,
    layers: Sequence[int] = (),
    workers: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Iterator[ClipResult]:
    """Yield one :class:`ClipResult` per video, in input order.

    Clips with the same number of frames are stacked up to ``batch_size`` per forward pass.
    ``dtype`` other than float32 runs the tower under autocast (bf16 / fp16 inference).
    """
    loader = DataLoader(dataset, batch_size=1, collate_fn=_first, num_workers=workers,
                        persistent_workers=False, prefetch_factor=2 if workers else None)
    device = torch.device(device)
    pending: list[dict[str, Any]] = []

    def flush() -> Iterator[ClipResult]:
        if not pending:
            return
        clips = torch.stack([p["frames"] for p in pending]).to(device)
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            out = model.forward_video_features(clips, layers=list(layers))
            embeds = model.project_image(out.pooled)
        for j, p in enumerate(pending):
            yield ClipResult(
                item=dataset.items[p["index"]],
                embeds=embeds[j].float().cpu(),
                layers={k: v[j].float().cpu() for k, v in out.layers.items()},
                indices=p["indices"], timestamps=p["timestamps"], fps=p["fps"], duration=p["duration"],
            )
        pending.clear()

    for sample in loader:
        if "error" in sample:
            yield from flush()  # keep results in input order
            yield ClipResult(item=dataset.items[sample["index"]], error=sample["error"])
            continue
        if pending and pending[0]["frames"].shape != sample["frames"].shape:
            yield from flush()
        pending.append(sample)
        if len(pending) >= batch_size:
            yield from flush()
    yield from flush()
