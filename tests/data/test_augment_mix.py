"""MixupCutmix: timm's batch-mode mixup / cutmix with label smoothing, on clips."""

import math

import pytest
import torch

from vidlift.data.augment import MixupCutmix, cutmix_box, smooth_one_hot


def _clips(b=4, t=3, h=8, w=10):
    # Every clip and frame distinct, so a mixed pixel shows where it came from.
    return torch.arange(b * t * 3 * h * w, dtype=torch.float32).view(b, t, 3, h, w)


def test_smooth_one_hot_values():
    y = smooth_one_hot(torch.tensor([2, 0]), 4, smoothing=0.1)
    # off = 0.1 / 4 = 0.025, on = 1 - 0.1 + 0.025 = 0.925
    torch.testing.assert_close(y, torch.tensor([[0.025, 0.025, 0.925, 0.025], [0.925, 0.025, 0.025, 0.025]]))


def test_cutmix_box_sides_and_corrected_lam():
    g = torch.Generator().manual_seed(3)
    (top, bottom, left, right), lam = cutmix_box(8, 10, 0.75, g)
    replay = torch.Generator().manual_seed(3)
    cy, cx = int(torch.randint(0, 8, (), generator=replay)), int(torch.randint(0, 10, (), generator=replay))
    # sqrt(1 - 0.75) = 0.5: a 4 x 5 box around (cy, cx), half-sides 2 and 2, clipped to the image
    assert (top, bottom, left, right) == (max(cy - 2, 0), min(cy + 2, 8), max(cx - 2, 0), min(cx + 2, 10))
    assert lam == pytest.approx(1 - (bottom - top) * (right - left) / 80)


def test_cutmix_box_clipped_at_the_border_corrects_lam():
    # lam = 0 asks for the whole 8 x 10 image; the box is centred at a random point and clipped,
    # so its area is smaller and lam says so.
    for seed in range(20):
        (top, bottom, left, right), lam = cutmix_box(8, 10, 0.0, torch.Generator().manual_seed(seed))
        assert 0 <= top <= bottom <= 8 and 0 <= left <= right <= 10
        assert lam == pytest.approx(1 - (bottom - top) * (right - left) / 80)


def test_cutmix_same_box_in_every_frame_and_lam_matches_area():
    mix = MixupCutmix(5, mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)
    x, labels = _clips(), torch.tensor([0, 1, 2, 3])
    for seed in range(10):
        g = torch.Generator().manual_seed(seed)
        p = mix.params(8, 10, torch.Generator().manual_seed(seed))
        out, targets = mix(x, labels, generator=g)
        assert out.shape == x.shape
        if p.box is None:  # lam drawn as exactly 1: nothing mixed
            torch.testing.assert_close(out, x)
            continue
        top, bottom, left, right = p.box
        inside = torch.zeros(8, 10, dtype=torch.bool)
        inside[top:bottom, left:right] = True
        # Inside the box (in every frame and channel) the mirrored clip, outside the clip itself.
        torch.testing.assert_close(out[..., inside], x.flip(0)[..., inside])
        torch.testing.assert_close(out[..., ~inside], x[..., ~inside])
        assert p.lam == pytest.approx(1 - inside.sum().item() / 80)
        # Clip 0 keeps lam of its label 0 and takes 1 - lam of clip 3's label 3.
        torch.testing.assert_close(targets[0], torch.tensor([p.lam, 0, 0, 1 - p.lam, 0], dtype=torch.float32))


def test_mixup_blends_with_the_mirrored_clip_and_targets():
    mix = MixupCutmix(3, mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.3)
    x, labels = _clips(b=2), torch.tensor([0, 2])
    lam = mix.params(8, 10, torch.Generator().manual_seed(7)).lam
    assert 0 < lam < 1
    out, targets = mix(x, labels, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(out, lam * x + (1 - lam) * x.flip(0))
    off, on = 0.1, 0.8  # 0.3 / 3, 1 - 0.3 + 0.1
    expected0 = lam * torch.tensor([on, off, off]) + (1 - lam) * torch.tensor([off, off, on])
    torch.testing.assert_close(targets[0], expected0.float())
    torch.testing.assert_close(targets.sum(1), torch.ones(2))


def test_default_draws_targets_sum_to_one_and_reproduce():
    mix = MixupCutmix(10)
    x, labels = _clips(b=5), torch.tensor([1, 4, 9, 0, 4])  # odd batch: the middle clip mixes with itself
    a = mix(x, labels, generator=torch.Generator().manual_seed(1))
    b = mix(x, labels, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    torch.testing.assert_close(a[1].sum(1), torch.ones(5))
    assert a[1].shape == (5, 10) and a[1].dtype == torch.float32
    torch.testing.assert_close(a[0][2], x[2])  # mirrored with itself
    assert torch.equal(x, _clips(b=5))  # the input is not modified


def test_prob_zero_only_smooths():
    mix = MixupCutmix(4, prob=0.0, label_smoothing=0.1)
    x, labels = _clips(b=2), torch.tensor([3, 1])
    out, targets = mix(x, labels, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, x)
    torch.testing.assert_close(targets, smooth_one_hot(labels, 4, 0.1))


def test_switch_prob_chooses_cutmix_or_mixup():
    always_cut = MixupCutmix(4, switch_prob=1.0)
    never_cut = MixupCutmix(4, switch_prob=0.0)
    for seed in range(10):
        assert always_cut.params(8, 10, torch.Generator().manual_seed(seed)).box is not None
        assert never_cut.params(8, 10, torch.Generator().manual_seed(seed)).box is None


def test_mixup_lam_is_beta_distributed():
    # Beta(0.8, 0.8): mean 1/2, variance 1 / (4 (2·0.8 + 1)) = 0.0962
    mix = MixupCutmix(4, cutmix_alpha=0.0)
    g = torch.Generator().manual_seed(0)
    lams = torch.tensor([mix.params(8, 10, g).lam for _ in range(4000)], dtype=torch.float64)
    assert lams.mean().item() == pytest.approx(0.5, abs=0.015)
    assert lams.var().item() == pytest.approx(1 / 10.4, abs=0.01)
    assert math.isclose(float(lams.min()), 0.0, abs_tol=0.01) and float(lams.max()) > 0.99


@pytest.mark.parametrize("kwargs, match", [
    ({"num_classes": 0}, "num_classes"), ({"num_classes": 3, "mixup_alpha": -1}, "mixup_alpha"),
    ({"num_classes": 3, "prob": 1.5}, "prob"), ({"num_classes": 3, "label_smoothing": -0.1}, "label_smoothing"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixupCutmix(**kwargs)


def test_bad_inputs():
    mix = MixupCutmix(3)
    with pytest.raises(ValueError, match="labels must be in"):
        mix(_clips(b=2), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="labels must be long"):
        mix(_clips(b=2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="video must be float"):
        mix(_clips(b=2).to(torch.uint8), torch.tensor([0, 1]))
