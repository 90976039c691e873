"""Cost figures every run reports beside its metrics: GFLOPs per clip, peak memory."""

from __future__ import annotations

import resource
import sys
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def gflops_per_clip(model: Any, num_frames: int, image_size: int) -> float:
    """FLOPs of embedding one clip (B=1, T frames) with the transfer model, in GFLOPs, counted
    by torch's FLOP counter (a multiply-add counts as 2 FLOPs, as torch counts; papers that
    quote "FLOPs" from fvcore count multiply-adds, i.e. half). One view; multiply by the views
    of multi-view testing."""
    device = next(model.parameters()).device
    clip = torch.zeros(1, num_frames, 3, image_size, image_size, device=device)
    was_training = model.training
    # The counter's module tracker hooks every output that requires grad; a module that passes
    # a parameter through (a learned query) would give it a leaf it cannot hook, so nothing
    # requires grad while counting.
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    try:
        for p in trainable:
            p.requires_grad_(False)
        # The math kernel: the fused CPU attention kernels are invisible to the FLOP counter.
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model.encode_video(clip)
    finally:
        for p in trainable:
            p.requires_grad_(True)
        model.train(was_training)
    return counter.get_total_flops() / 1e9


def peak_memory() -> dict[str, Any]:
    """Peak accelerator memory allocated by tensors (CUDA) or, on CPU, the process's peak
    resident set size; in MiB, with which one it is."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return {"peak_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
                "peak_memory_kind": "cuda_allocated"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_bytes = rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB
    return {"peak_memory_mib": round(rss_bytes / 2**20, 1), "peak_memory_kind": "cpu_peak_rss"}


__all__ = ["gflops_per_clip", "peak_memory"]
