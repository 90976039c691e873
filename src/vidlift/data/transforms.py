"""Video preprocessing in plain torch: resize, crop, flip, normalize.

No torchvision (it does not import beside the CPU torch build here). Functional ops work
on float videos (T, C, H, W); :class:`VideoTransform` chains them from decoded uint8
frames (T, H, W, 3) to normalized model input (T, 3, size, size). Random ops draw once
per clip from an optional ``torch.Generator``, so every frame of a clip gets the same
crop and flip (a per-frame crop would add fake motion).

Mean/std and size come from the backbone's preprocessing metadata; this module takes
them as arguments and knows no backbone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

Interpolation = Literal["bicubic", "bilinear"]
ResizeMode = Literal["shortest", "squash"]


def _check_video(video: torch.Tensor) -> None:
    if video.ndim != 4:
        raise ValueError(f"expected a video (T, C, H, W), got shape {tuple(video.shape)}")
    if not video.is_floating_point():
        raise TypeError(f"expected a float video, got {video.dtype}; see to_float_video")


def to_float_video(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (T, H, W, 3) -> float32 (T, 3, H, W), values still in [0, 255]."""
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    return frames.permute(0, 3, 1, 2).to(torch.float32)


def resize(
    video: torch.Tensor,
    size: tuple[int, int],
    interpolation: Interpolation = "bicubic",
    antialias: bool = True,
) -> torch.Tensor:
    """Resize float video (T, C, H, W) to (T, C, size[0], size[1]).

    ``antialias`` low-pass filters when downsampling (as PIL does), which matters for
    matching the image pipeline CLIP-like models were trained with.
    """
    _check_video(video)
    if interpolation not in ("bicubic", "bilinear"):
        raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {interpolation!r}")
    if tuple(video.shape[-2:]) == tuple(size):
        return video
    return F.interpolate(video, size=tuple(size), mode=interpolation, align_corners=False, antialias=antialias)


def shorter_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the shorter side ``size`` and the aspect ratio kept (longer side truncated,
    the rule of torchvision's ``Resize(int)`` used by CLIP's preprocessing)."""
    if height <= width:
        return size, int(size * width / height)
    return int(size * height / width), size


def resize_shorter(
    video: torch.Tensor, size: int, interpolation: Interpolation = "bicubic", antialias: bool = True
) -> torch.Tensor:
    """Resize float video (T, C, H, W) so its shorter side is ``size``, keeping aspect ratio."""
    _check_video(video)
    return resize(video, shorter_side_size(video.shape[-2], video.shape[-1], size), interpolation, antialias)


def resize_square(
    video: torch.Tensor, size: int, interpolation: Interpolation = "bicubic", antialias: bool = True
) -> torch.Tensor:
    """Resize float video (T, C, H, W) to (T, C, size, size) ignoring aspect ratio (SigLIP's "squash")."""
    return resize(video, (size, size), interpolation, antialias)


def _crop_size(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _check_crop(video: torch.Tensor, ch: int, cw: int) -> None:
    h, w = video.shape[-2:]
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} is larger than the frames ({h}x{w}); resize first")


def center_crop(video: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Central (size, size) or (h, w) crop of video (T, C, H, W)."""
    ch, cw = _crop_size(size)
    _check_crop(video, ch, cw)
    h, w = video.shape[-2:]
    # Same rounding as torchvision's center_crop, so eval crops match image pipelines.
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return video[..., top : top + ch, left : left + cw]


def random_crop(
    video: torch.Tensor, size: int | Sequence[int], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Crop of video (T, C, H, W) at one random position shared by all frames."""
    ch, cw = _crop_size(size)
    _check_crop(video, ch, cw)
    h, w = video.shape[-2:]
    top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
    return video[..., top : top + ch, left : left + cw]


def hflip(video: torch.Tensor) -> torch.Tensor:
    """Mirror video (..., H, W) left-right."""
    return video.flip(-1)


def normalize(video: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(video - mean) / std per channel, for float video (T, C, H, W) in [0, 1]."""
    _check_video(video)
    mean_t = torch.as_tensor(mean, dtype=video.dtype, device=video.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=video.dtype, device=video.device).view(1, -1, 1, 1)
    if mean_t.shape[1] != video.shape[1] or std_t.shape[1] != video.shape[1]:
        raise ValueError(f"mean/std need {video.shape[1]} values, got {len(mean)} and {len(std)}")
    return (video - mean_t) / std_t


class VideoTransform:
    """Decoded uint8 frames (T, H, W, 3) -> normalized float32 model input (T, 3, size, size).

    Steps: resize ("shortest": shorter side to ``resize_size``, aspect kept, as CLIP;
    "squash": to ``resize_size`` x ``resize_size``, as SigLIP), then crop to ``size``
    (centre crop at test time, random crop when ``train``), horizontal flip with
    probability ``flip_prob`` when ``train``, scale to [0, 1], normalize.

    Args:
        size: output side.
        mean, std: per-channel statistics of the backbone, on [0, 1] values.
        resize_mode: "shortest" or "squash".
        interpolation: "bicubic" (CLIP, SigLIP) or "bilinear".
        train: random crop + flip instead of centre crop.
        resize_size: side to resize to before cropping; defaults to ``size``. A larger
            value (e.g. 256 for 224) gives the random crop room in "squash" mode too.
        flip_prob: probability of mirroring a clip when ``train``.
        antialias: low-pass filter when downsampling (PIL-like).

    Random choices are drawn once per call from ``generator`` (or torch's global RNG),
    so all frames of a clip share them.
    """

    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        resize_mode: ResizeMode = "shortest",
        interpolation: Interpolation = "bicubic",
        train: bool = False,
        resize_size: int | None = None,
        flip_prob: float = 0.5,
        antialias: bool = True,
    ):
        if resize_mode not in ("shortest", "squash"):
            raise ValueError(f"resize_mode must be 'shortest' or 'squash', got {resize_mode!r}")
        if interpolation not in ("bicubic", "bilinear"):
            raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {interpolation!r}")
        resize_size = size if resize_size is None else resize_size
        if resize_size < size:
            raise ValueError(f"resize_size ({resize_size}) must be >= size ({size})")
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}")
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("mean and std need 3 values (RGB)")
        self.size, self.resize_size = size, resize_size
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self.resize_mode, self.interpolation = resize_mode, interpolation
        self.train, self.flip_prob, self.antialias = train, flip_prob, antialias

    def resized(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (T, H, W, 3) -> float (T, 3, h, w) in [0, 255]: the resize before the crop."""
        video = to_float_video(frames)
        if self.resize_mode == "shortest":
            video = resize_shorter(video, self.resize_size, self.interpolation, self.antialias)
        else:
            video = resize_square(video, self.resize_size, self.interpolation, self.antialias)
        # Bicubic overshoots past [0, 255]; clamping and rounding mirror the uint8 resize of
        # the image pipelines (PIL, torchvision) that backbones were trained with.
        return video.clamp_(0, 255).round_()

    def __call__(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (T, H, W, 3) -> float32 (T, 3, size, size)."""
        video = self.resized(frames)
        if self.train:
            video = random_crop(video, self.size, generator)
            if self.flip_prob > 0 and float(torch.rand((), generator=generator)) < self.flip_prob:
                video = hflip(video)
        else:
            video = center_crop(video, self.size)
        return normalize(video.div(255.0), self.mean, self.std).contiguous()

    def three_crops(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (T, H, W, 3) -> (3, T, 3, size, size): start / centre / end crops along the
        longer side after the resize — left/centre/right for landscape (and square) frames,
        top/centre/bottom for portrait ones — the "3-crop" test of mmaction2's ``ThreeCrop``
        (Feichtenhofer et al., SlowFast, ICCV 2019). The centre crop equals ``self(frames)``
        of a test-mode transform."""
        video = self.resized(frames)
        s = self.size
        h, w = video.shape[-2:]
        if s > h or s > w:
            raise ValueError(f"crop {s}x{s} is larger than the resized frames ({h}x{w})")
        top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
        corners = [(0, left), (top, left), (h - s, left)] if h > w else [(top, 0), (top, left), (top, w - s)]
        crops = [center_crop(video, s) if (y, x) == (top, left) else video[..., y : y + s, x : x + s]
                 for y, x in corners]
        return torch.stack([normalize(c.div(255.0), self.mean, self.std).contiguous() for c in crops])

    def __repr__(self) -> str:
        return (
            f"VideoTransform(size={self.size}, resize_size={self.resize_size}, "
            f"resize_mode={self.resize_mode!r}, interpolation={self.interpolation!r}, "
            f"train={self.train}, flip_prob={self.flip_prob}, mean={self.mean}, std={self.std})"
        )
