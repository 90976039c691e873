"""R²-Tuning's grounding heads (Liu et al., ECCV 2024, arXiv 2404.00801; official code
github.com/yeliudev/R2-Tuning: ``models/model.py`` ``R2Tuning``, ``models/blocks.py``
``ConvPyramid`` / ``AdaPooling`` / ``ConvHead``, ``models/generator.py`` ``PointGenerator``,
``models/loss.py`` ``BundleLoss`` / ``SampledNCELoss``, defaults from
``configs/_base_/models/model.py``; focal, L1 and InfoNCE losses are nncore's).

Over the R² block's clip states x (B, N, C) (:mod:`vidlift.transfer.frozen.r2_tuning`)::

    pyramid: level s in strides (1, 2, 4, 8): s = 1 ReLU(x); else log2(s) × [Conv1d(k=2, stride 2),
             LN, ReLU] -> (B, ⌊N/s⌋, C); a level with N < s is skipped
    points:  level s, index j -> position j·s (clip units), regression range, stride
    class:   ConvHead (Conv1d k=3, ReLU, Conv1d k=3) -> 1 logit per point (shared by levels)
    coords:  ConvHead -> 2 per point, exp(·) · coef_level: distances to start / end in strides
    query:   AdaPooling (softmax over the real tokens of a linear score) of R²'s query tokens -> (B, C)

Losses (weights of the official config): focal loss on the point classes (γ = 2, no α, over
the real points; 1.0), L1 on the boundary distances of the positive points (0.2), SampledNCE
saliency loss between the states and the pooled query at a sampled positive clip (τ = 0.07,
both directions; 0.1), and the layer-wise contrastive losses on R²'s per-layer class and
pooled query tokens: across the batch per layer (``loss_video_cal``, 0.1) and across layers
per sample (``loss_layer_cal``, 0.1). Targets as ``BundleLoss.get_target``: centre sampling
(radius 1.5 strides), a point's regression range by level, the shortest window when several
qualify; windows shorter than one clip become the clip around their centre (the official
dataset's ``bind_boundary``).

Decoding (``R2Tuning.forward`` in test mode): windows [p − d_s·s, p + d_e·s] scored by the
sigmoid of their class logit, the top ``max_num_moment`` (50); saliency: per level the class
scores spread over the clips as the official code does (each repeated ⌊n / n_level⌋ times,
the last one filling the rest), max over levels, times the cosine between each clip state and
the pooled query (``merge_cls_sal``). The official evaluation then clamps, rounds to the clip
unit and runs NMS (0.7): here the grounding task's post-processing does that (the recipe
sets ``nms_threshold: 0.7``).

Where this departs, and why:

- Batched decoding: the official code decodes one video at a time (``assert b == 1``). Here
  each row keeps only the points a video of its own length would have (j·s + s ≤ n), and its
  states are zeroed past its end before the pyramid, so a video's windows do not depend on its
  batch; the losses too are taken over each row's own points (the official training counts a
  point whose stride window is partly padding). A row with fewer points than the batch's Q is
  padded with copies of its last window at score 0, marked False in
  ``GroundingOutput.window_mask`` so that they never reach a submission.
- Windows are clamped to [0, 1] of the video (GroundingOutput's contract).
- Points are generated for any N (no ``buffer_size`` cap): videos of any length.
- The L1 loss's average over positive points is taken over at least one (nncore divides by
  zero when a batch has none); a query with no positive clip is left out of the saliency and
  layer-wise losses (the official dataset asserts one exists).
- vidlift's ``torch.nn`` pieces stand in for nncore's and mmcv's registries.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .heads import GroundingHead, GroundingInputs, GroundingOutput, GroundingTargets


class ConvPyramid(nn.Module):
    """x (B, N, C) -> one (B, ⌊N/s⌋, C) map per stride s ≤ N (powers of two)."""

    def __init__(self, dims: int, strides: tuple[int, ...]) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.blocks = nn.ModuleList()
        for s in self.strides:
            p = int(math.log2(s))
            if s < 1 or 2**p != s:
                raise ValueError(f"r2: pyramid strides must be powers of two, got {s}")
            layers: list[nn.Module] = [] if p else [nn.ReLU()]
            for _ in range(p):
                layers += [nn.Conv1d(dims, dims, 2, stride=2), _ChannelLast(nn.LayerNorm(dims)), nn.ReLU()]
            self.blocks.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = x.transpose(1, 2)  # (B, C, N)
        return [blk(h).transpose(1, 2) for s, blk in zip(self.strides, self.blocks) if x.shape[1] >= s]


class _ChannelLast(nn.Module):
    """Apply a channel-last module to (B, C, N)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.transpose(1, 2)).transpose(1, 2)


class AdaPooling(nn.Module):
    """x (B, L, C), mask (B, L) True on real tokens -> (B, C): softmax over the real tokens of
    a bias-free linear score, then the weighted sum."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.att = nn.Linear(dims, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        a = self.att(x)[..., 0]
        if mask is not None:
            a = a.masked_fill(~mask, float("-inf"))
        return (a.softmax(-1)[..., None] * x).sum(1)


class ConvHead(nn.Module):
    """(B, M, C) -> (B, M, out): Conv1d(C, C, k), ReLU, Conv1d(C, out, k), 'same' padding.
    ``mask`` (B, M) zeroes the input and hidden states past a row's end, as the zero padding
    of a shorter sequence would be."""

    def __init__(self, dims: int, out: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.net = nn.Sequential(nn.Conv1d(dims, dims, kernel_size, padding=pad), nn.ReLU(),
                                 nn.Conv1d(dims, out, kernel_size, padding=pad))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = x.transpose(1, 2)
        m = mask[:, None].to(h.dtype) if mask is not None else None
        if m is not None:
            h = h * m
        h = self.net[1](self.net[0](h))
        if m is not None:
            h = h * m
        return self.net[2](h).transpose(1, 2)


def make_points(sizes: list[int], strides: tuple[int, ...], device: torch.device | None = None) -> torch.Tensor:
    """``PointGenerator``: per level of ``sizes[l]`` points with stride s, rows (position j·s,
    regression range low, high, s) -> (Σ sizes, 4). Level l regresses distances in
    [strides[l], strides[l+1]] (the first from 0, the last to ∞)."""
    lows = (0,) + tuple(strides[1:])
    highs = tuple(strides[1:]) + (float("inf"),)
    rows = []
    for size, s, lo, hi in zip(sizes, strides, lows, highs):
        pos = torch.arange(size, dtype=torch.float32, device=device) * s
        rows.append(torch.stack([pos, torch.full_like(pos, lo), torch.full_like(pos, hi), torch.full_like(pos, s)], 1))
    return torch.cat(rows)


def point_targets(points: torch.Tensor, windows: torch.Tensor,
                  sample_radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``BundleLoss.get_target_single``: points (M, 4), windows (W, 2) in clip units ->
    class targets (M,) in {0, 1} and regression targets (M, 2) (distances to start / end, in
    strides, of the shortest window the point may regress)."""
    m = points.shape[0]
    if windows.numel() == 0:
        return points.new_zeros(m), points.new_zeros(m, 2)
    pos, stride = points[:, 0, None], points[:, 3, None]
    s = pos - windows[None, :, 0]
    e = windows[None, :, 1] - pos
    reg = torch.stack([s, e], -1)  # (M, W, 2)
    if sample_radius > 0:
        centre = windows.mean(1)[None]
        lo = torch.maximum(centre - stride * sample_radius, windows[None, :, 0])
        hi = torch.minimum(centre + stride * sample_radius, windows[None, :, 1])
        inside = torch.minimum(pos - lo, hi - pos) >= 0
    else:
        inside = reg.min(-1).values >= 0
    dist = reg.max(-1).values
    in_range = (dist >= points[:, 1, None]) & (dist <= points[:, 2, None])
    lens = (windows[:, 1] - windows[:, 0])[None].expand(m, -1).masked_fill(~(inside & in_range), float("inf"))
    best, idx = lens.min(1)
    cls = torch.isfinite(best).float()
    return cls, reg[torch.arange(m, device=points.device), idx] / stride


def clip_unit_windows(windows: torch.Tensor, n: int) -> torch.Tensor:
    """Fractions (W, 2) of an n-clip video -> clip units, as the official ``bind_boundary``:
    clamped to [0, n], reversed ones swapped, those shorter than a clip made the clip around
    their centre (centre kept in [0.5, n − 0.5])."""
    w = (windows.float() * n).clamp(0, n)
    w = torch.stack([w.min(1).values, w.max(1).values], 1)
    short = (w[:, 1] - w[:, 0]) < 1
    centre = w.mean(1).clamp(0.5, max(n - 0.5, 0.5))
    return torch.where(short[:, None], torch.stack([centre - 0.5, centre + 0.5], 1), w)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss per element (Lin et al. 2017), nncore's with ``alpha=-1``:
    BCE(x, y) · (1 − p_t)^γ, p_t = p if y = 1 else 1 − p."""
    p = logits.sigmoid()
    p_t = p * target + (1 - p) * (1 - target)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none") * (1 - p_t) ** gamma


def sampled_nce(states: torch.Tensor, query: torch.Tensor, clip_mask: torch.Tensor, saliency: torch.Tensor,
                pos: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """``SampledNCELoss`` (both directions): states (B, N, C), query (B, C), saliency (B, N),
    pos (B,) a positive clip per query. Row: the positive clip against the clips of the same
    video that are no more salient; column: at clip index pos_b, query b's similarity against
    the other videos' own similarities there (where those are no more salient). Cosines are
    scaled by 1/τ (≤ 100)."""
    b = torch.arange(states.shape[0], device=states.device)
    keep = (saliency <= saliency[b, pos][:, None]) & clip_mask
    scale = min(1.0 / temperature, 100.0)
    sim = F.cosine_similarity(states, query[:, None], dim=-1) * scale
    sim = sim.masked_fill(~keep, float("-inf"))
    row = F.log_softmax(sim, dim=1)[b, pos]
    col = F.log_softmax(sim.t(), dim=1)[pos, b]
    return -(row.mean() + col.mean())


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """nncore's ``infonce_loss``: a, b (G, M, C) -> for each group the M × M cosine logits
    (scaled by 1/τ, ≤ 100), matching pairs on the diagonal, cross-entropy in both directions,
    averaged."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.transpose(-1, -2) * min(1.0 / temperature, 100.0)
    t = torch.arange(a.shape[1], device=a.device).repeat(a.shape[0])
    return (F.cross_entropy(logits.flatten(0, 1), t) + F.cross_entropy(logits.transpose(-1, -2).flatten(0, 1), t)) / 2


class R2GroundingHead(GroundingHead):
    """R²-Tuning's pyramid, class / boundary heads, saliency and losses (module docstring).

    Takes (clip_dim C, text_dim, embed_dim, **hyper-parameters); reads the R² block's extras
    (``inputs.extras["r2"]``, an :class:`~vidlift.transfer.frozen.r2_tuning.R2Pass`), so the
    video head must be ``r2_tuning``."""

    name: ClassVar[str] = "r2"
    paper: ClassVar[str] = "Liu et al., ECCV 2024 (arXiv 2404.00801)"
    needs_video_head: ClassVar[str | None] = "r2_tuning"

    def __init__(self, clip_dim: int, text_dim: int, embed_dim: int,
                 strides: tuple[int, ...] | list[int] = (1, 2, 4, 8), max_num_moment: int = 50,
                 merge_cls_sal: bool = True, kernel_size: int = 3,
                 sample_radius: float = 1.5, loss_cls: float = 1.0, loss_reg: float = 0.2, loss_sal: float = 0.1,
                 loss_video_cal: float = 0.1, loss_layer_cal: float = 0.1, temperature: float = 0.07) -> None:
        super().__init__()
        strides = tuple(int(s) for s in strides)
        if not strides or list(strides) != sorted(set(strides)):
            raise ValueError(f"r2: strides must be increasing, got {list(strides)}")
        if max_num_moment < 1:
            raise ValueError(f"r2: max_num_moment must be positive, got {max_num_moment}")
        self.strides = strides
        self.pyramid = ConvPyramid(clip_dim, strides)
        self.pooling = AdaPooling(clip_dim)
        self.class_head = ConvHead(clip_dim, 1, kernel_size)
        self.coord_head = ConvHead(clip_dim, 2, kernel_size)
        self.coef = nn.Parameter(torch.ones(len(strides)))
        self.max_num_moment = int(max_num_moment)
        self.merge_cls_sal = bool(merge_cls_sal)
        self.sample_radius = float(sample_radius)
        self.weights = {"loss_cls": loss_cls, "loss_reg": loss_reg, "loss_sal": loss_sal,
                        "loss_video_cal": loss_video_cal, "loss_layer_cal": loss_layer_cal}
        self.temperature = float(temperature)

    def _r2(self, inputs: GroundingInputs) -> Any:
        r2 = inputs.extras.get("r2")
        if r2 is None:
            raise ValueError("grounding head 'r2' reads R²-Tuning's query tokens and layer-wise embeddings "
                             "(extras['r2']), which only the r2_tuning video head gives; use transfer "
                             "[{name: r2_tuning}] with it, or head moment_detr")
        return r2

    def forward(self, inputs: GroundingInputs) -> GroundingOutput:
        r2 = self._r2(inputs)
        mask = inputs.clip_mask.bool()
        x = inputs.clips.float() * mask[..., None]  # padding cannot reach a real clip's level outputs
        pymid = self.pyramid(x)
        sizes = [p.shape[1] for p in pymid]
        points = make_points(sizes, self.strides, x.device)
        n = mask.sum(1, keepdim=True)
        # the points a video of each row's own length has (j·s + s ≤ n): the rest is padding
        lmask = [(torch.arange(p.shape[1], device=x.device)[None] + 1) * s <= n for p, s in zip(pymid, self.strides)]
        out_class = torch.cat([self.class_head(p, m) for p, m in zip(pymid, lmask)], 1)[..., 0]  # (B, M)
        out_coord = torch.cat([self.coord_head(p, m).exp() * self.coef[i]
                               for i, (p, m) in enumerate(zip(pymid, lmask))], 1)  # (B, M, 2)
        query = self.pooling(r2.query.float(), r2.query_mask)  # (B, C)
        cosine = F.cosine_similarity(x, query[:, None], dim=-1)  # (B, N)
        windows, scores, saliency, real = self._decode(out_class.detach(), out_coord.detach(), points, sizes,
                                                       cosine.detach(), mask)
        extras = {"out_class": out_class, "out_coord": out_coord, "points": points, "sizes": sizes,
                  "point_mask": torch.cat(lmask, 1), "states": x, "query": query, "clip_mask": mask, "r2": r2}
        return GroundingOutput(windows, scores, saliency, extras, window_mask=real)

    def _decode(self, logits: torch.Tensor, coords: torch.Tensor, points: torch.Tensor, sizes: list[int],
                cosine: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per row, as the official single-video inference on its own n clips: windows (B, Q, 2),
        scores (B, Q), saliency (B, N) and the window mask (B, Q), True on a row's own windows."""
        b, n_pad = mask.shape
        level = torch.repeat_interleave(torch.arange(len(sizes), device=points.device),
                                        torch.tensor(sizes, device=points.device))
        index = torch.cat([torch.arange(s, device=points.device) for s in sizes])
        probs = logits.sigmoid()
        rows_w, rows_s = [], []
        saliency = torch.zeros(b, n_pad, device=logits.device)
        for i in range(b):
            n = int(mask[i].sum())
            real = (index + 1) * points[:, 3] <= n  # the points of an n-clip video
            per_level = []
            for lv, s in enumerate(self.strides[: len(sizes)]):
                if n < s:
                    continue
                score = probs[i][real & (level == lv)]
                score = score.repeat_interleave(n // score.numel())
                per_level.append(torch.cat([score, score[-1:].expand(n - score.numel())]))
            sal = torch.stack(per_level).amax(0)
            saliency[i, :n] = sal * cosine[i, :n] if self.merge_cls_sal else sal
            p, d, sc = points[real], coords[i][real], probs[i][real]
            bounds = torch.stack([p[:, 0] - d[:, 0] * p[:, 3], p[:, 0] + d[:, 1] * p[:, 3]], 1) / n
            order = sc.argsort(descending=True, stable=True)[: self.max_num_moment]
            rows_w.append(bounds[order].clamp(0, 1))
            rows_s.append(sc[order])
        q = max(len(s) for s in rows_s)
        windows = torch.stack([torch.cat([w, w[-1:].expand(q - len(w), 2)]) for w in rows_w])
        scores = torch.stack([F.pad(s, (0, q - len(s))) for s in rows_s])
        real = torch.arange(q, device=scores.device)[None] < torch.tensor([len(s) for s in rows_s],
                                                                          device=scores.device)[:, None]
        return windows, scores, saliency, real

    def loss(self, output: GroundingOutput, targets: GroundingTargets) -> dict[str, torch.Tensor]:
        ex = output.extras
        points, mask = ex["points"], ex["clip_mask"]
        b = mask.shape[0]
        cls_t, reg_t = [], []
        for i in range(b):
            w = clip_unit_windows(targets.windows[i].to(points.device), int(mask[i].sum()))
            c, r = point_targets(points, w, self.sample_radius)
            cls_t.append(c)
            reg_t.append(r)
        cls_t, reg_t = torch.stack(cls_t), torch.stack(reg_t)
        pmask = ex["point_mask"].float()  # each row's own points (see the module docstring)
        losses = {"loss_cls": (focal_loss(ex["out_class"], cls_t) * pmask).sum() / pmask.sum().clamp(min=1)}
        pos = cls_t[..., None].expand_as(reg_t)
        losses["loss_reg"] = ((ex["out_coord"] - reg_t).abs() * pos).sum() / pos.sum().clamp(min=1)
        positive = (targets.saliency > 0) & mask
        positive = torch.where(positive.any(1, keepdim=True), positive, targets.relevant.bool() & mask)
        has = positive.any(1)
        if has.any():
            pick = torch.multinomial(positive[has].float(), 1)[:, 0]  # one positive clip per query, at random
            sal = targets.saliency[has].float()
            losses["loss_sal"] = sampled_nce(ex["states"][has], ex["query"][has], mask[has], sal, pick,
                                             self.temperature)
            r2 = ex["r2"]
            rows = torch.arange(int(has.sum()), device=pick.device)
            qm = r2.query_mask[has] if r2.query_mask is not None else None
            v = torch.stack([lv[has][rows, pick].float() for lv in r2.layer_video])  # (k, B', C)
            q = torch.stack([self.pooling(lq[has].float(), qm) for lq in r2.layer_query])  # (k, B', C)
            losses["loss_video_cal"] = info_nce(v, q, self.temperature)
            losses["loss_layer_cal"] = info_nce(v.transpose(0, 1), q.transpose(0, 1), self.temperature)
        else:
            zero = ex["query"].sum() * 0
            losses.update(loss_sal=zero, loss_video_cal=zero, loss_layer_cal=zero)
        return {k: v * self.weights[k] for k, v in losses.items() if self.weights[k] != 0}


__all__ = ["R2GroundingHead", "ConvPyramid", "AdaPooling", "ConvHead", "make_points", "point_targets",
           "clip_unit_windows", "focal_loss", "sampled_nce", "info_nce"]
