"""A content-addressed cache of frozen backbone features, for training frozen-feature
strategies (post-network tuning, side-tuning, tower_compression's teacher frames) without re-running the
backbone every epoch.

The key is a hash of what decides the features: the weights (sha256), the architecture, the preprocessing,
the frame sampling, the layers, the dtypes and the decoding backend. Each key is one folder written by
:func:`~vidlift.features.extract.extract_features` (atomic per video, resumable: an
interrupted fill loses nothing and a second fill skips what is done)::

    <root>/<key>/extraction.json, manifest.jsonl, features/<video id>.safetensors

Two runs that need the same features share a folder; a run with other settings gets another
one, so stale features are never read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ..backbones.factory import Backbone
from ..data.sources import VideoItem
from ..data.video import FrameSampler
from .extract import _SETTINGS, ExtractSummary, block_indices, extract_features, extraction_header, read_manifest


def cache_key(header: dict[str, Any]) -> str:
    """16 hex digits of sha256 over the settings that decide the features."""
    settings = {k: header[k] for k in _SETTINGS}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class CachedFeatures:
    """Features of one cache folder: ``load(video_id)`` -> {"frames": (T, E), "layers.<i>": (T, N, D)}."""

    directory: Path
    layers: list[int]
    video_ids: list[str]
    failed: list[tuple[str, str]]

    def load(self, video_id: str) -> dict[str, torch.Tensor]:
        path = self.directory / "features" / f"{video_id}.safetensors"
        try:
            raw = load_file(str(path))
        except FileNotFoundError as e:
            raise KeyError(f"{path}: video {video_id!r} is not in the feature cache") from e
        out = {"frames": raw["embeds"]}
        for i in self.layers:
            out[f"layers.{i}"] = raw[f"layer_{i}"]
        return out

    def batch(self, video_ids: Sequence[str]) -> dict[str, torch.Tensor]:
        """Stack several videos (same number of frames) -> {"frames": (B, T, E), ...}."""
        rows = [self.load(v) for v in video_ids]
        return {k: torch.stack([r[k] for r in rows]) for k in rows[0]}

    def __len__(self) -> int:
        return len(self.video_ids)


class FeatureCache:
    """Content-addressed feature folders under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def directory(self, backbone: Backbone, sampler: FrameSampler, layers: Sequence[int] = (),
                  save_dtype: str = "float32", compute_dtype: torch.dtype = torch.float32,
                  backend: str = "pyav") -> Path:
        layers = block_indices(backbone, layers)
        header = extraction_header(backbone, sampler, layers, save_dtype, compute_dtype, backend)
        return self.root / cache_key(header)

    def fill(self, backbone: Backbone, items: Sequence[VideoItem], sampler: FrameSampler, layers: Sequence[int] = (),
             batch_size: int = 4, workers: int = 0, device: str = "cpu", save_dtype: str = "float32",
             compute_dtype: torch.dtype = torch.float32, backend: str = "pyav",
             progress: bool = True) -> tuple[CachedFeatures, ExtractSummary]:
        """Extract what is missing for ``items`` and return the folder's features (videos that
        failed to decode are listed in ``failed``, not cached)."""
        out = self.directory(backbone, sampler, layers, save_dtype, compute_dtype, backend)
        layers = block_indices(backbone, layers)
        summary = extract_features(backbone, items, out, sampler, layers, batch_size, workers, device,
                                   compute_dtype, save_dtype, backend, progress)
        manifest = read_manifest(out)
        wanted = [it.video_id for it in items]
        ok = [v for v in wanted if manifest.get(v, {}).get("status") == "ok"]
        failed = [(v, manifest[v].get("error", "")) for v in wanted if manifest.get(v, {}).get("status") == "failed"]
        return CachedFeatures(out, layers, ok, failed), summary


__all__ = ["FeatureCache", "CachedFeatures", "cache_key"]
