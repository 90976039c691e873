"""Image ops on uint8 video, with torchvision's names and its tensor semantics.

Every op takes uint8 frames (..., 3, H, W) — a clip (T, 3, H, W), or one image — and
returns uint8 of the same layout; leading dims are frames, each treated as torchvision
treats one image of a batch. Geometric ops apply the same transform to every frame;
statistics (AutoContrast's range, Equalize's histogram, Contrast's mean) are per frame, as
torchvision computes them on a (T, C, H, W) batch.

The arithmetic follows ``torchvision.transforms.functional`` on tensors step by step (float32
blends truncated to uint8, a 3x3 smoothing kernel for sharpness, the nearest-neighbour affine
grid of ``_gen_affine_grid``), so outputs match torchvision's to the bit on the same inputs
(``tests/data/test_augment_parity.py`` holds them to a fixture made with torchvision).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .. import transforms
from ..transforms import Interpolation

GridInterpolation = str  # "nearest" | "bilinear": what grid_sample takes


def _check_uint8(video: torch.Tensor, what: str = "frames") -> None:
    if video.dtype != torch.uint8 or video.ndim < 3 or video.shape[-3] != 3:
        raise ValueError(f"expected uint8 {what} (..., 3, H, W), got {video.dtype} {tuple(video.shape)}")


def _as_batch(video: torch.Tensor) -> tuple[torch.Tensor, torch.Size]:
    """(..., C, H, W) -> (N, C, H, W) and the leading shape to restore."""
    return video.reshape(-1, *video.shape[-3:]), video.shape[:-3]


# -- geometry: crop, resize, flip ------------------------------------------------------------


def crop(video: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """video (..., H, W) -> (..., height, width) from row ``top``, column ``left`` (inside)."""
    h, w = video.shape[-2:]
    if not (0 <= top and 0 <= left and height > 0 and width > 0 and top + height <= h and left + width <= w):
        raise ValueError(f"crop ({top}, {left}, {height}, {width}) is not inside the {h}x{w} frames")
    return video[..., top : top + height, left : left + width]


def resize(video: torch.Tensor, size: Sequence[int], interpolation: Interpolation = "bilinear",
           antialias: bool = True) -> torch.Tensor:
    """uint8 video (..., 3, H, W) -> (..., 3, size[0], size[1]), resampled in float32 and
    rounded back to uint8 (bicubic's overshoot clamped first), as torchvision's tensor resize."""
    _check_uint8(video)
    if interpolation not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolation must be 'bilinear' or 'bicubic', got {interpolation!r}")
    size = (int(size[0]), int(size[1]))
    if tuple(video.shape[-2:]) == size:
        return video
    batch, lead = _as_batch(video)
    out = transforms.resize(batch.float(), size, interpolation, antialias)  # the one float resize
    return out.clamp_(0, 255).round_().to(torch.uint8).reshape(*lead, 3, *size)


def resized_crop(video: torch.Tensor, top: int, left: int, height: int, width: int, size: Sequence[int],
                 interpolation: Interpolation = "bilinear", antialias: bool = True) -> torch.Tensor:
    """:func:`crop` then :func:`resize` to ``size`` (h, w): torchvision's ``resized_crop``."""
    return resize(crop(video, top, left, height, width), size, interpolation, antialias)


def hflip(video: torch.Tensor) -> torch.Tensor:
    """Mirror (..., H, W) left-right."""
    return video.flip(-1)


# -- affine (ShearX/Y, TranslateX/Y, Rotate) ------------------------------------------------------


def inverse_affine_matrix(center: Sequence[float], angle: float, translate: Sequence[float], scale: float,
                          shear: Sequence[float]) -> list[float]:
    """The 2x3 matrix (row-major, 6 numbers) that maps an output pixel back to the input:
    ``C · (R S SHy SHx)^-1 · C^-1 · T^-1`` for rotation ``angle`` (degrees), shears (degrees)
    along x then y, translation and a centre relative to the image centre (torchvision's
    ``_get_inverse_affine_matrix``; the determinant of R·SH is 1, so the inverse is exact)."""
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [x / scale for x in (d, -b, 0.0, -c, a, 0.0)]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
    m[2] += cx
    m[5] += cy
    return m


def _affine_grid(matrix: Sequence[float], height: int, width: int) -> torch.Tensor:
    """(1, H, W, 2) sampling grid in grid_sample's [-1, 1] coordinates: pixel centres relative
    to the image centre, mapped by ``matrix``, then normalised by the half sides (the grid of
    torchvision's ``_gen_affine_grid``, float32 as it builds it)."""
    theta = torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3)
    base = torch.empty(1, height, width, 3, dtype=torch.float32)
    base[..., 0].copy_(torch.linspace(-width * 0.5 + 0.5, width * 0.5 - 0.5, steps=width))
    base[..., 1].copy_(torch.linspace(-height * 0.5 + 0.5, height * 0.5 - 0.5, steps=height).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scaled = theta.transpose(1, 2) / torch.tensor([0.5 * width, 0.5 * height], dtype=torch.float32)
    return base.view(1, height * width, 3).bmm(scaled).view(1, height, width, 2)


def _grid_transform(video: torch.Tensor, matrix: Sequence[float], interpolation: GridInterpolation,
                    fill: Sequence[float] | None) -> torch.Tensor:
    _check_uint8(video)
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    batch, lead = _as_batch(video)
    n, c, h, w = batch.shape
    img = batch.float()
    grid = _affine_grid(matrix, h, w).expand(n, h, w, 2)
    if fill is not None:  # a channel of ones marks where the input reached, so the rest gets ``fill``
        img = torch.cat((img, torch.ones(n, 1, h, w)), dim=1)
    img = F.grid_sample(img, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    if fill is not None:
        img, mask = img[:, :-1], img[:, -1:].expand(n, c, h, w)
        fill_img = torch.tensor([float(f) for f in fill], dtype=img.dtype).view(1, -1, 1, 1).expand_as(img)
        if interpolation == "nearest":
            img = torch.where(mask < 0.5, fill_img, img)
        else:
            img = img * mask + (1.0 - mask) * fill_img
    return img.round_().to(torch.uint8).reshape(*lead, c, h, w)


def affine(video: torch.Tensor, angle: float, translate: Sequence[float], scale: float, shear: Sequence[float],
           center: Sequence[float] | None = None, interpolation: GridInterpolation = "nearest",
           fill: Sequence[float] | None = None) -> torch.Tensor:
    """The same affine transform of every frame of uint8 (..., 3, H, W): rotation ``angle``
    (degrees, clockwise on screen), ``translate`` (x, y) pixels, ``scale``, ``shear`` (x, y)
    degrees, about ``center`` (x, y) in pixels (default: the image centre). Pixels from
    outside are 0, or ``fill`` (one value per channel). torchvision's ``affine``."""
    h, w = video.shape[-2:]
    center_f = [0.0, 0.0] if center is None else [float(c) - s * 0.5 for c, s in zip(center, (w, h))]
    matrix = inverse_affine_matrix(center_f, angle, [float(t) for t in translate], scale, shear)
    return _grid_transform(video, matrix, interpolation, fill)


def rotate(video: torch.Tensor, angle: float, interpolation: GridInterpolation = "nearest",
           fill: Sequence[float] | None = None) -> torch.Tensor:
    """Every frame rotated ``angle`` degrees counter-clockwise about the image centre, the
    frame size kept (torchvision's ``rotate`` with ``expand=False``)."""
    # torchvision's rotate and affine turn opposite ways; rotate passes -angle to the matrix.
    return _grid_transform(video, inverse_affine_matrix([0.0, 0.0], -angle, [0.0, 0.0], 1.0, [0.0, 0.0]),
                           interpolation, fill)


# -- colour ----------------------------------------------------------------------------------


def _blend(img1: torch.Tensor, img2: torch.Tensor, ratio: float) -> torch.Tensor:
    # float32 blend truncated (not rounded) to uint8, as torchvision's ``_blend``.
    ratio = float(ratio)
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, 255).to(torch.uint8)


def rgb_to_grayscale(video: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> (..., 1, H, W): ITU-R 601 luma (0.2989, 0.587, 0.114), truncated."""
    _check_uint8(video)
    r, g, b = video.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(torch.uint8).unsqueeze(-3)


def _check_factor(name: str, factor: float) -> None:
    if factor < 0:
        raise ValueError(f"{name} must be non-negative, got {factor}")


def adjust_brightness(video: torch.Tensor, brightness_factor: float) -> torch.Tensor:
    """Blend with black: 0 gives black, 1 the input, 2 doubles every value (clipped)."""
    _check_uint8(video)
    _check_factor("brightness_factor", brightness_factor)
    return _blend(video, torch.zeros_like(video), brightness_factor)


def adjust_saturation(video: torch.Tensor, saturation_factor: float) -> torch.Tensor:
    """Blend with the frame's greyscale: 0 grey, 1 the input, 2 twice the saturation."""
    _check_factor("saturation_factor", saturation_factor)
    return _blend(video, rgb_to_grayscale(video), saturation_factor)


def adjust_contrast(video: torch.Tensor, contrast_factor: float) -> torch.Tensor:
    """Blend with the mean of each frame's greyscale: 0 a flat grey frame, 1 the input."""
    _check_factor("contrast_factor", contrast_factor)
    mean = torch.mean(rgb_to_grayscale(video).float(), dim=(-3, -2, -1), keepdim=True)
    return _blend(video, mean, contrast_factor)


def adjust_sharpness(video: torch.Tensor, sharpness_factor: float) -> torch.Tensor:
    """Blend with a smoothed copy (3x3 kernel, 5 at the centre and 1 around; the border
    pixels kept): 0 smoothed, 1 the input, 2 sharpened. Frames of 2 pixels or fewer a side
    are returned as they are."""
    _check_uint8(video)
    _check_factor("sharpness_factor", sharpness_factor)
    if video.shape[-1] <= 2 or video.shape[-2] <= 2:
        return video
    batch, lead = _as_batch(video)
    kernel = torch.ones((3, 3), dtype=torch.float32)
    kernel[1, 1] = 5.0
    kernel = (kernel / kernel.sum()).expand(3, 1, 3, 3)
    smooth = F.conv2d(batch.float(), kernel, groups=3).round_().to(torch.uint8)
    degenerate = batch.clone()
    degenerate[..., 1:-1, 1:-1] = smooth
    return _blend(batch, degenerate, sharpness_factor).reshape(video.shape)


def _rgb_to_hsv(img: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [0, 1] -> HSV, hue in [0, 1) (PIL's formulas, as torchvision)."""
    r, g, b = img.unbind(dim=-3)
    maxc, minc = img.max(dim=-3).values, img.min(dim=-3).values
    flat = maxc == minc  # grey: hue and saturation are 0, and the divisions below must not be by 0
    ones = torch.ones_like(maxc)
    s = (maxc - minc) / torch.where(flat, ones, maxc)
    span = torch.where(flat, ones, maxc - minc)
    rc, gc, bc = (maxc - r) / span, (maxc - g) / span, (maxc - b) / span
    h = ((maxc == r) * (bc - gc) + ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
         + ((maxc != g) & (maxc != r)) * (4.0 + gc - rc))
    return torch.stack((torch.fmod(h / 6.0 + 1.0, 1.0), s, maxc), dim=-3)


def _hsv_to_rgb(img: torch.Tensor) -> torch.Tensor:
    h, s, v = img.unbind(dim=-3)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    sector = i.to(torch.int32) % 6
    p = torch.clamp(v * (1.0 - s), 0.0, 1.0)
    q = torch.clamp(v * (1.0 - s * f), 0.0, 1.0)
    t = torch.clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    # each channel picks one of (v, q, p, t) by the hue's sector, as a one-hot mix
    onehot = (sector.unsqueeze(-3) == torch.arange(6).view(-1, 1, 1)).to(img.dtype)
    table = torch.stack((torch.stack((v, q, p, p, t, v), dim=-3), torch.stack((t, v, v, q, p, p), dim=-3),
                         torch.stack((p, p, t, v, v, q), dim=-3)), dim=-4)
    return torch.einsum("...ijk, ...xijk -> ...xjk", onehot, table)


def adjust_hue(video: torch.Tensor, hue_factor: float) -> torch.Tensor:
    """Rotate every pixel's hue by ``hue_factor`` (in [-0.5, 0.5] of a turn), in HSV on [0, 1]
    values, back to uint8 by ``x · 255.999`` truncated (torchvision's ``convert_image_dtype``)."""
    _check_uint8(video)
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor must be in [-0.5, 0.5], got {hue_factor}")
    h, s, v = _rgb_to_hsv(video.float() / 255.0).unbind(dim=-3)
    rgb = _hsv_to_rgb(torch.stack(((h + hue_factor) % 1.0, s, v), dim=-3))
    return rgb.mul(255.0 + 1.0 - 1e-3).to(torch.uint8)


def posterize(video: torch.Tensor, bits: int) -> torch.Tensor:
    """Keep the ``bits`` (0..8) high bits of every value."""
    _check_uint8(video)
    if not 0 <= bits <= 8:
        raise ValueError(f"bits must be in [0, 8], got {bits}")
    return video & -int(2 ** (8 - bits))  # the mask ~(2 ** (8 - bits) - 1)


def invert(video: torch.Tensor) -> torch.Tensor:
    """255 - value."""
    _check_uint8(video)
    return 255 - video


def solarize(video: torch.Tensor, threshold: float) -> torch.Tensor:
    """Invert the values at or above ``threshold`` (0..255)."""
    _check_uint8(video)
    if threshold > 255:
        raise ValueError(f"threshold must be <= 255 for uint8 frames, got {threshold}")
    return torch.where(video >= threshold, invert(video), video)


def autocontrast(video: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each frame to span 0..255 (a constant channel is kept)."""
    _check_uint8(video)
    lo = video.amin(dim=(-2, -1), keepdim=True).float()
    hi = video.amax(dim=(-2, -1), keepdim=True).float()
    scale = 255.0 / (hi - lo)
    flat = ~torch.isfinite(scale)
    lo[flat], scale[flat] = 0, 1
    return ((video - lo) * scale).clamp(0, 255).to(torch.uint8)


def equalize(video: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each channel of each frame (torchvision's / PIL's rule: the
    look-up table spreads the cumulative histogram over 256 levels in steps of
    ``(pixels - count of the top value) // 255``; a step of 0 keeps the channel)."""
    _check_uint8(video)
    batch, _ = _as_batch(video)
    chans = batch.reshape(-1, batch.shape[-2] * batch.shape[-1]).long()  # (N·3, H·W)
    k = chans.shape[0]
    hist = torch.zeros(k, 256, dtype=torch.long).scatter_add_(1, chans, torch.ones_like(chans))
    # torchvision sums the non-zero bins but the last: every pixel but those of the top value.
    top = chans.amax(dim=1, keepdim=True)
    step = (chans.shape[1] - hist.gather(1, top)).div(255, rounding_mode="floor")  # (K, 1)
    safe = step.clamp(min=1)
    lut = (hist.cumsum(1) + step.div(2, rounding_mode="floor")).div(safe, rounding_mode="floor")
    lut = F.pad(lut, [1, 0])[:, :-1].clamp(0, 255)
    out = lut.gather(1, chans)
    out = torch.where(step == 0, chans, out)
    return out.to(torch.uint8).reshape(video.shape)


__all__ = [
    "adjust_brightness", "adjust_contrast", "adjust_hue", "adjust_saturation", "adjust_sharpness", "affine",
    "autocontrast",
    "crop", "equalize", "hflip", "inverse_affine_matrix", "invert", "posterize", "resize", "resized_crop",
    "rgb_to_grayscale", "rotate", "solarize",
]
