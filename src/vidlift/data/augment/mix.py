"""Batch-level mixup / cutmix with label smoothing, as timm's ``Mixup`` in "batch" mode.

One draw per batch (timm's ``_params_per_batch``): with probability ``prob`` the batch is
mixed, by cutmix with probability ``switch_prob`` (when both alphas are positive) and by mixup
otherwise; ``lam ~ Beta(alpha, alpha)``. Each clip is mixed with the clip at the mirrored
position of the batch (``x.flip(0)``), and its target is the same mixture of the two
label-smoothed one-hot rows. A cutmix box is cut in the (H, W) plane, so it is the same in
every frame of a clip: a box that moved between frames would be motion the label does not
describe.

Departures from timm, both harmless to the maths: the input is not modified in place (a new
tensor is returned), and an odd batch is allowed (timm asserts an even one; with ``flip(0)``
the middle clip is simply mixed with itself), because the engine drops clips that fail to
decode and keeps the last, short batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MixParams:
    """One batch's draw: ``lam`` (the weight of each clip's own label), and the cutmix box
    ``(top, bottom, left, right)`` (rows ``top:bottom``, columns ``left:right``) or ``None``
    for mixup (or no mixing, ``lam == 1``)."""

    lam: float
    box: tuple[int, int, int, int] | None = None


def _beta(alpha: float, generator: torch.Generator | None) -> float:
    # torch.distributions.Beta takes no generator; its sampler (a 2-way Dirichlet, i.e. the
    # ratio of two Gamma(alpha) draws) does, and float64 keeps lam's last bits stable.
    a = torch.tensor([alpha, alpha], dtype=torch.float64)
    return float(torch._sample_dirichlet(a, generator=generator)[0])


def _uniform(generator: torch.Generator | None) -> float:
    return float(torch.rand((), dtype=torch.float64, generator=generator))


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """labels (B,) long -> (B, num_classes) float32 rows with ``1 - smoothing + smoothing / C``
    on the label and ``smoothing / C`` elsewhere (timm's ``one_hot`` with on/off values)."""
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    out = torch.full((labels.shape[0], num_classes), off, dtype=torch.float32, device=labels.device)
    return out.scatter_(1, labels.view(-1, 1), on)


def cutmix_box(height: int, width: int, lam: float, generator: torch.Generator | None = None
               ) -> tuple[tuple[int, int, int, int], float]:
    """A cutmix box for area fraction ``1 - lam`` and ``lam`` corrected to the box's real area
    (timm's ``rand_bbox`` + ``cutmix_bbox_and_lam`` with ``correct_lam=True``): sides
    ``int(H * sqrt(1 - lam))`` by ``int(W * sqrt(1 - lam))`` around a uniform centre, clipped to
    the image. Returns ``((top, bottom, left, right), lam)``."""
    ratio = (1.0 - lam) ** 0.5
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(0, height, (), generator=generator))
    cx = int(torch.randint(0, width, (), generator=generator))
    top, bottom = min(max(cy - cut_h // 2, 0), height), min(max(cy + cut_h // 2, 0), height)
    left, right = min(max(cx - cut_w // 2, 0), width), min(max(cx + cut_w // 2, 0), width)
    lam = 1.0 - (bottom - top) * (right - left) / float(height * width)
    return (top, bottom, left, right), lam


class MixupCutmix:
    """Mixup (Zhang et al., 2018) / CutMix (Yun et al., 2019) over a batch of clips, with label
    smoothing: timm's ``Mixup(mode="batch", correct_lam=True)``. Defaults are timm's as X-CLIP
    uses them.

    Args:
        num_classes: C, the width of the targets.
        mixup_alpha: Beta(alpha, alpha) for mixup's lam; 0 turns mixup off.
        cutmix_alpha: Beta(alpha, alpha) for cutmix's lam; 0 turns cutmix off.
        prob: probability that a batch is mixed at all.
        switch_prob: probability of cutmix rather than mixup when both are on.
        label_smoothing: spread over all C classes (off value ``smoothing / C``).

    ``mix(video, labels, generator=g)``: video (B, T, 3, H, W) float (or any (B, ..., H, W)),
    labels (B,) long in [0, C) -> (mixed video of the same shape, targets (B, C) float32
    whose rows sum to 1). All randomness comes from ``generator`` (torch's global RNG if None).
    """

    def __init__(self, num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                 prob: float = 1.0, switch_prob: float = 0.5, label_smoothing: float = 0.1) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"MixupCutmix: num_classes must be a positive integer, got {num_classes!r}")
        for name, value in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
            if value < 0:
                raise ValueError(f"MixupCutmix: {name} must be >= 0 (0 turns it off), got {value!r}")
        for name, value in (("prob", prob), ("switch_prob", switch_prob), ("label_smoothing", label_smoothing)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"MixupCutmix: {name} must be in [0, 1], got {value!r}")
        self.num_classes = num_classes
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.prob, self.switch_prob = float(prob), float(switch_prob)
        self.label_smoothing = float(label_smoothing)

    def params(self, height: int, width: int, generator: torch.Generator | None = None) -> MixParams:
        """The batch's draw, in timm's order: mix at all?, cutmix or mixup?, lam, then the box."""
        if (self.mixup_alpha == 0 and self.cutmix_alpha == 0) or not _uniform(generator) < self.prob:
            return MixParams(1.0)
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = _uniform(generator) < self.switch_prob
        else:
            use_cutmix = self.cutmix_alpha > 0
        lam = _beta(self.cutmix_alpha if use_cutmix else self.mixup_alpha, generator)
        if lam == 1.0 or not use_cutmix:
            return MixParams(lam)
        box, lam = cutmix_box(height, width, lam, generator)
        return MixParams(lam, box)

    def __call__(self, video: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        if video.ndim < 3 or not video.is_floating_point():
            raise ValueError(f"MixupCutmix: video must be float (B, T, 3, H, W), got {video.dtype} "
                             f"{tuple(video.shape)}")
        if labels.ndim != 1 or labels.dtype != torch.long or labels.shape[0] != video.shape[0]:
            raise ValueError(f"MixupCutmix: labels must be long (B,) with B={video.shape[0]} (the video's batch), "
                             f"got {labels.dtype} {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"MixupCutmix: labels must be in [0, {self.num_classes}), got "
                             f"{int(labels.min())}..{int(labels.max())}")
        p = self.params(video.shape[-2], video.shape[-1], generator)
        if p.box is not None:
            top, bottom, left, right = p.box
            video = video.clone()
            video[..., top:bottom, left:right] = video.flip(0)[..., top:bottom, left:right]
        elif p.lam != 1.0:
            video = video * p.lam + video.flip(0) * (1.0 - p.lam)
        targets = (smooth_one_hot(labels, self.num_classes, self.label_smoothing) * p.lam
                   + smooth_one_hot(labels.flip(0), self.num_classes, self.label_smoothing) * (1.0 - p.lam))
        return video, targets

    def __repr__(self) -> str:
        return (f"MixupCutmix(num_classes={self.num_classes}, mixup_alpha={self.mixup_alpha}, "
                f"cutmix_alpha={self.cutmix_alpha}, prob={self.prob}, switch_prob={self.switch_prob}, "
                f"label_smoothing={self.label_smoothing})")


__all__ = ["MixParams", "MixupCutmix", "cutmix_box", "smooth_one_hot"]
