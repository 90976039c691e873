"""Extract frozen backbone features for a set of videos into a folder with a manifest.

Layout of ``out``::

    extraction.json        what produced the folder: backbone identity, preprocessing, sampling, layers
    manifest.jsonl         one line per video processed (status ok / failed); the last line per id wins
    features/<id>.safetensors
        embeds      (T, E)    projected per-frame embeddings (the joint image-text space)
        layer_<i>   (T, N, D) tokens after block i, when requested (N includes the class token)
        indices     (T,)      decoded frame indices
        timestamps  (T,)      seconds

Writes are atomic (temporary file, then rename) and a rerun into the same folder with the
same settings skips videos already done, so an interrupted run loses nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from .. import __version__
from ..atomic import atomic_write
from ..backbones.factory import Backbone
from ..data.clips import VideoClips
from ..data.sources import VideoItem
from ..data.video import FrameSampler
from .runner import ClipResult, iter_clip_features


class ExtractionMismatchError(ValueError):
    """The output folder holds features made with other settings."""


@dataclass
class ExtractSummary:
    out: Path
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (video id, reason)
    frames: int = 0
    seconds: float = 0.0
    shapes: dict[str, list[int]] = field(default_factory=dict)  # of the first video written

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# What must match for a folder's features to be comparable; the spec string may differ (a moved
# directory, a relative path) as long as the weights are the same.
_SETTINGS = ("weights_sha256", "architecture", "preprocess", "sampling", "layers", "dtype", "compute_dtype", "backend")


def block_indices(backbone: Backbone, layers: Sequence[int]) -> list[int]:
    """Image-tower block indices, sorted, negative ones counted from the end."""
    depth = backbone.model.vision_depth
    out = sorted({i + depth if i < 0 else i for i in layers})
    if any(not 0 <= i < depth for i in out):
        raise ValueError(f"layers must lie in [-{depth}, {depth}) for this {depth}-block image tower")
    return out


def extraction_header(backbone: Backbone, sampler: FrameSampler, layers: Sequence[int], save_dtype: str,
                      compute_dtype: torch.dtype = torch.float32, backend: str = "pyav") -> dict[str, Any]:
    """What decides the features (:data:`_SETTINGS`), plus provenance."""
    model = backbone.model
    return {
        "vidlift_version": __version__,
        "backbone": {"spec": backbone.meta.spec, "identity": backbone.meta.identity},
        "weights_sha256": backbone.meta.weights_sha256,
        # The same weight file read with another architecture (QuickGELU vs GELU) gives other features.
        "architecture": {k: v for k, v in model.config_dict().items() if k != "preprocess"},
        "preprocess": asdict(model.preprocess_config),
        "sampling": repr(sampler),
        "layers": list(layers),
        "dtype": save_dtype,
        "compute_dtype": str(compute_dtype).removeprefix("torch."),
        "backend": backend,
    }


def _check_header(out: Path, header: dict[str, Any]) -> None:
    path = out / "extraction.json"
    if path.is_file():
        old = json.loads(path.read_text())
        old.setdefault("backend", old.get("decoder"))  # folders written before the setting was renamed
        diff = [k for k in _SETTINGS if old.get(k) != json.loads(json.dumps(header[k]))]
        if diff:
            raise ExtractionMismatchError(
                f"{path}: this folder holds features made with different {', '.join(diff)}; "
                "use another --out (nothing was changed)"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda p: p.write_text(json.dumps(header, indent=2)))


def read_manifest(out: Path) -> dict[str, dict[str, Any]]:
    """Entries of ``manifest.jsonl`` by video id (the last line per id wins)."""
    entries: dict[str, dict[str, Any]] = {}
    path = out / "manifest.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                # A run killed mid-write leaves a partial line; its video is simply redone.
                continue
            if isinstance(e, dict) and "video_id" in e:
                entries[e["video_id"]] = e
    return entries


def _end_partial_line(path: Path) -> None:
    """A run killed mid-write can leave a last line without its newline; end it so the next
    entry starts on a line of its own (the fragment is then skipped as malformed)."""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def _write_result(out: Path, r: ClipResult, dtype: torch.dtype) -> dict[str, Any]:
    tensors = {"embeds": r.embeds.to(dtype)}
    for i, t in r.layers.items():
        tensors[f"layer_{i}"] = t.to(dtype)
    tensors["indices"] = torch.as_tensor(r.indices, dtype=torch.int64)
    tensors["timestamps"] = torch.as_tensor(r.timestamps, dtype=torch.float64)
    rel = Path("features") / f"{r.item.video_id}.safetensors"
    dest = out / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, lambda p: save_file({k: v.contiguous() for k, v in tensors.items()}, str(p)))
    return {
        "video_id": r.item.video_id, "status": "ok", "path": str(r.item.path), "file": rel.as_posix(),
        "shapes": {k: list(v.shape) for k, v in tensors.items()},
        "fps": r.fps, "duration": r.duration, "timestamps": [round(float(t), 4) for t in r.timestamps],
    }


def extract_features(
    backbone: Backbone,
    items: Sequence[VideoItem],
    out: str | Path,
    sampler: FrameSampler,
    layers: Sequence[int] = (),
    batch_size: int = 4,
    workers: int = 0,
    device: str = "cpu",
    compute_dtype: torch.dtype = torch.float32,
    save_dtype: str = "float32",
    backend: str = "pyav",
    progress: bool = True,
) -> ExtractSummary:
    """Extract features of ``items`` into ``out`` (see the module docstring for the layout)."""
    out = Path(out)
    layers = block_indices(backbone, layers)
    header = extraction_header(backbone, sampler, layers, save_dtype, compute_dtype, backend)
    _check_header(out, header)
    done = {vid for vid, e in read_manifest(out).items() if e.get("status") == "ok" and (out / e["file"]).is_file()}
    todo = [it for it in items if it.video_id not in done]
    summary = ExtractSummary(out=out, skipped=len(items) - len(todo))
    if not todo:
        return summary
    model = backbone.model.to(device).eval()
    dataset = VideoClips(todo, sampler, backbone.preprocess, backend=backend)
    dtype = getattr(torch, save_dtype)
    start = time.perf_counter()
    _end_partial_line(out / "manifest.jsonl")
    with (open(out / "manifest.jsonl", "a") as manifest,
          tqdm(total=len(todo), unit="video", disable=not progress, desc="extract") as bar):
        for r in iter_clip_features(model, dataset, batch_size, layers, workers, device, compute_dtype):
            if r.error is not None:
                entry: dict[str, Any] = {"video_id": r.item.video_id, "status": "failed", "path": str(r.item.path),
                                         "error": r.error}
                summary.failed.append((r.item.video_id, r.error))
                bar.write(f"skipped {r.item.path}: {r.error}")
            else:
                entry = _write_result(out, r, dtype)
                summary.done += 1
                summary.frames += int(r.embeds.shape[0])
                summary.shapes = summary.shapes or entry["shapes"]
            manifest.write(json.dumps(entry) + "\n")
            manifest.flush()
            bar.update()
    summary.seconds = time.perf_counter() - start
    return summary
