"""Stochastic depth shared by the strategies (AIM, divided space-time attention, R²-Tuning):
identity in eval mode, per-sample (per-clip) zeroing and 1 / (1 − p) scaling in training with a
seeded draw, and the linear per-block schedule of timm / AIM / TimeSformer."""

from __future__ import annotations

import pytest
import torch

from vidlift.transfer.layers import drop_path, drop_path_clips, linear_drop_path_rates


def test_drop_path_is_identity_in_eval_mode_and_at_zero():
    x = torch.randn(5, 3, 4)
    assert drop_path(x, 0.3, training=False) is x
    assert drop_path(x, 0.0, training=True) is x
    assert drop_path_clips(x, 0.3, training=False, clips=5) is x


def test_drop_path_zeroes_whole_samples_and_rescales_the_rest():
    x = torch.randn(8, 3, 4)
    torch.manual_seed(3)
    y = drop_path(x, 0.25, training=True)
    torch.manual_seed(3)
    keep = torch.empty(8, 1, 1).bernoulli_(0.75)  # the same draw
    torch.testing.assert_close(y, x * keep / 0.75)
    for i in range(8):  # each sample entirely dropped or entirely scaled
        assert torch.equal(y[i], torch.zeros_like(x[i])) or torch.allclose(y[i], x[i] / 0.75)
    ones = torch.ones(4000, 2)
    torch.manual_seed(0)
    dropped = (drop_path(ones, 0.25, True) == 0).all(1).float().mean()
    assert 0.22 < dropped < 0.28


def test_drop_path_clips_keeps_or_drops_a_clip_whole():
    b, t = 6, 3
    x = torch.randn(b * t, 5, 4)  # (B·T, N, D), clip-major as the image tower lays them out
    torch.manual_seed(1)
    y = drop_path_clips(x, 0.5, True, clips=b).view(b, t, 5, 4)
    torch.manual_seed(1)
    keep = torch.empty(b, 1, 1, 1).bernoulli_(0.5)
    torch.testing.assert_close(y, x.view(b, t, 5, 4) * keep / 0.5)
    assert 0 < keep.sum() < b  # this seed drops some clips and keeps others


def test_linear_schedule_matches_the_references():
    rates = linear_drop_path_rates(12, 0.2)
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)
    assert rates == pytest.approx([0.2 * i / 11 for i in range(12)])
    # what AIM's Transformer / TimeSformer's VisionTransformer compute (float32 linspace, .item())
    assert rates == pytest.approx([r.item() for r in torch.linspace(0, 0.2, 12)], abs=1e-7)
    assert linear_drop_path_rates(1, 0.2) == [0.0]
