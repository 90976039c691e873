"""The one video-clip dataset, and the collate function that batches it.

Everything that decodes clips — the tasks' splits, feature extraction (``vidlift extract``,
the feature cache), ``vidlift zero-shot`` and the demo — reads them through
:class:`VideoClips`, so there is one policy for a video that does not decode:

- it becomes an *error record* ``{"index", "video_id", "error"}`` whose message names the
  file (:class:`~vidlift.data.video.VideoDecodeError`: missing, empty, corrupt, nothing to
  sample). Any other exception propagates: an unknown backend or a transform that fails is a
  bug or a config error, not a bad video;
- :func:`collate_clips` drops error records from batches and logs each message once; the
  feature runner writes them to its manifest as failures. Nothing is skipped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment.train import TrainTransform
from .sources import VideoItem
from .transforms import VideoTransform
from .video import DecodedVideo, FrameSampler, VideoDecodeError, get_backend, read_video

log = logging.getLogger(__name__)

CROPS = (1, 3)


class VideoClips(Dataset):
    """Decoded, preprocessed clips of ``videos`` (id and path; a ``None`` path fails cleanly).

    Item ``i`` — or key ``(epoch, i)``, as the engine's sampler sends it, so that a dataset in
    a worker process knows the epoch — is ``{"index": i, "video_id": str, "video": tensor,
    "frame_indices": int64 (N,), "timestamps": float64 (N,) seconds, "fps": float64 (),
    "duration": float64 () seconds, **self.annotation(i, epoch)}`` (N frames decoded, in decode
    order; tensors all, so a batch has the batch size on dim 0 of every tensor), or the error
    record ``{"index": i, "video_id": str, "error": message naming the file}``.

    ``video`` is (T, 3, S, S) float, or (V, T, 3, S, S) when the sampler returns several clips
    (``FrameSample.num_clips``, e.g. :class:`~vidlift.data.video.MultiViewSampler`) or
    ``crops`` is 3 (:meth:`VideoTransform.three_crops`): V = clips × crops, clip-major (view
    ``k * crops + j`` is clip k, crop j).

    Randomness — the sampler's frames, a training transform's crop, flip and RandAugment ops
    — is a function of (seed, epoch, i): a run reproduces, and a resumed run sees the clips an
    uninterrupted one would. ``set_epoch`` sets the epoch of plain integer keys. Subclasses add their
    annotation (labels, captions) by overriding :meth:`annotation`, and nothing else.

    Args:
        videos: what to decode, in item order.
        sampler: which frames (e.g. ``SegmentSampler(8, "train")``).
        transform: uint8 frames (N, H, W, 3) -> (N, 3, S, S); a :class:`VideoTransform` or
            a :class:`~vidlift.data.augment.TrainTransform` gets a seeded generator.
        backend: the decoding backend (``pyav``, ``opencv``, ``decord``, ``torchcodec``);
            checked here, so a missing one fails once instead of once per clip.
        crops: 1, or 3 for three-crop testing.
    """

    def __init__(self, videos: Sequence[VideoItem], sampler: FrameSampler, transform: Any,
                 backend: str = "pyav", seed: int = 0, crops: int = 1) -> None:
        if crops not in CROPS:
            raise ValueError(f"crops must be one of {CROPS}, got {crops!r}")
        if crops == 3 and not isinstance(transform, VideoTransform):
            raise TypeError(f"3-crop testing needs a VideoTransform (resize, then crop), "
                            f"got {type(transform).__name__}")
        get_backend(backend)
        self.videos = list(videos)
        self.sampler, self.transform = sampler, transform
        self.backend, self.seed, self.crops = backend, int(seed), crops
        self.epoch = 0

    @property
    def views(self) -> int:
        """Views per item: the sampler's clips × crops."""
        return int(getattr(self.sampler, "num_clips", 1)) * self.crops

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(key, tuple):
            return self.item(int(key[1]), int(key[0]))
        return self.item(int(key), self.epoch)

    def annotation(self, i: int, epoch: int) -> dict[str, Any]:
        """What item ``i`` carries besides its clip (a label, a caption …); nothing here."""
        return {}

    def item(self, i: int, epoch: int) -> dict[str, Any]:
        """Item ``i`` at ``epoch`` (see the class docstring)."""
        video = self.videos[i]
        head = {"index": i, "video_id": video.video_id}
        if video.path is None:
            return {**head, "error": f"{video.video_id}: no video file for this entry"}
        try:
            decoded = read_video(video.path, self.sampler, backend=self.backend,
                                 rng=np.random.default_rng((self.seed, epoch, i)))
        except VideoDecodeError as e:  # names the file
            return {**head, "error": str(e)}
        return {**head, "video": self._views(decoded, epoch, i),
                "frame_indices": torch.from_numpy(np.asarray(decoded.indices, dtype=np.int64)),
                "timestamps": torch.from_numpy(np.asarray(decoded.timestamps, dtype=np.float64)),
                "fps": torch.tensor(float(decoded.info.fps), dtype=torch.float64),
                "duration": torch.tensor(float(decoded.info.duration), dtype=torch.float64),
                **self.annotation(i, epoch)}

    def _transform(self, frames: torch.Tensor, epoch: int, i: int) -> torch.Tensor:
        # The project's transforms draw from a generator of (seed, epoch, i): the same clip
        # gets the same crop in a resumed run, and a different one the next epoch.
        if isinstance(self.transform, (VideoTransform, TrainTransform)):
            return self.transform(frames, generator=seeded_generator(self.seed, epoch, i, 1))
        return self.transform(frames)

    def _views(self, decoded: DecodedVideo, epoch: int, i: int) -> torch.Tensor:
        clips, frames = decoded.num_clips, decoded.frames
        if clips == 1 and self.crops == 1:
            return self._transform(frames, epoch, i)
        if self.crops == 1:
            video = self._transform(frames, epoch, i)[None]  # (1, N, 3, S, S)
        else:
            video = self.transform.three_crops(frames)  # (3, N, 3, S, S)
        t = frames.shape[0] // clips
        return video.unflatten(1, (clips, t)).transpose(0, 1).flatten(0, 1)  # (clips·crops, T, 3, S, S)


def seeded_generator(*entropy: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by the integers ``entropy`` (through numpy's
    SeedSequence, so nearby keys give unrelated streams): the randomness of a clip (seed,
    epoch, index, stream) or a batch, reproducible and resumable."""
    state = np.random.SeedSequence([int(x) for x in entropy]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state >> np.uint64(1)))


_reported: set[str] = set()


def collate_clips(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Stack items into a batch: tensors are stacked, ints become a LongTensor, anything else
    (strings, tuples of captions) stays a list. Error records are dropped
    and each message is logged once (a warning); a batch with nothing left is ``None``, which
    the engine skips."""
    good = []
    for s in samples:
        if "error" in s:
            if s["error"] not in _reported:
                _reported.add(s["error"])
                log.warning("skipping a video that does not decode: %s", s["error"])
            continue
        good.append(s)
    if not good:
        return None
    out: dict[str, Any] = {}
    for key in good[0]:
        values = [s[key] for s in good]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], (int, np.integer)) and not isinstance(values[0], bool):
            out[key] = torch.tensor(values, dtype=torch.long)
        else:
            out[key] = values
    return out


__all__ = ["CROPS", "VideoClips", "collate_clips", "seeded_generator"]
