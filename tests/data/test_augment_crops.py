"""Clip crops and flips: torchvision's box rules worked by hand, one draw per clip, the same
window in every frame."""

import pytest
import torch

from vidlift.data.augment import RandomCrop, RandomHorizontalFlip, RandomResizedCrop, RandomShortSideScale
from vidlift.data.augment import functional as AF


def _ramp(t=1, h=4, w=6):
    """A clip (t, 3, h, w): value 10·y + x + 50·frame, plus c in channel c."""
    y = torch.arange(h).view(h, 1) * 10
    x = torch.arange(w).view(1, w)
    frames = [(y + x + 50 * f).expand(3, h, w) + torch.tensor([0, 1, 2]).view(3, 1, 1) for f in range(t)]
    return torch.stack(frames).to(torch.uint8)


def _g(seed):
    return torch.Generator().manual_seed(seed)


def test_random_resized_crop_falls_back_to_the_central_crop():
    # Area >= 99% with w/h >= 3 never fits a 4x6 frame (w would be 8.5): torchvision's fallback
    # keeps the width and cuts h = round(6 / 3) = 2 rows from the middle: rows 1..2.
    assert RandomResizedCrop.get_params(4, 6, (0.99, 1.0), (3.0, 3.5), _g(0)) == (1, 0, 2, 6)
    # w/h <= 0.25 never fits either (h would be 11): the full height, w = round(4 · 0.25) = 1,
    # column (6 - 1) // 2 = 2
    assert RandomResizedCrop.get_params(4, 6, (0.99, 1.0), (0.2, 0.25), _g(0)) == (0, 2, 4, 1)
    # inside the ratio range the fallback is the whole frame; an area of 100% at ratio 1.5 is it
    assert RandomResizedCrop.get_params(4, 6, (1.0, 1.0), (1.5, 1.5), _g(0)) == (0, 0, 4, 6)
    clip = _ramp()
    out = RandomResizedCrop((2, 6), scale=(0.99, 1.0), ratio=(3.0, 3.5))(clip, _g(0))
    assert torch.equal(out, clip[..., 1:3, :])  # the crop is already 2x6: no resampling


def test_random_resized_crop_draws_torchvisions_box():
    # The first try: area = 24 · U(0.2, 0.6), ratio = exp(U(log 3/4, log 4/3)), sides rounded;
    # when it fits, top and left uniform. Replaying the generator's draws gives the same box.
    fitted = 0
    for seed in range(10):
        replay = _g(seed)
        area = 24 * torch.empty(1).uniform_(0.2, 0.6, generator=replay).item()
        log_r = torch.log(torch.tensor([0.75, 4 / 3]))
        r = torch.exp(torch.empty(1).uniform_(float(log_r[0]), float(log_r[1]), generator=replay)).item()
        w, h = round((area * r) ** 0.5), round((area / r) ** 0.5)
        if not (0 < w <= 6 and 0 < h <= 4):
            continue  # a second try would follow
        fitted += 1
        top = torch.randint(0, 4 - h + 1, (1,), generator=replay).item()
        left = torch.randint(0, 6 - w + 1, (1,), generator=replay).item()
        assert RandomResizedCrop.get_params(4, 6, (0.2, 0.6), (0.75, 4 / 3), _g(seed)) == (top, left, h, w)
    assert fitted >= 5


def test_random_resized_crop_is_one_window_for_every_frame():
    clip = _ramp(t=5, h=12, w=16)  # frames differ (50 per frame)
    rrc = RandomResizedCrop(8, scale=(0.1, 0.6), interpolation="bicubic")
    for seed in range(5):
        box = RandomResizedCrop.get_params(12, 16, rrc.scale, rrc.ratio, _g(seed))
        out = rrc(clip, _g(seed))
        assert out.shape == (5, 3, 8, 8) and out.dtype == torch.uint8
        for t in range(5):
            assert torch.equal(out[t], AF.resized_crop(clip[t], *box, (8, 8), "bicubic"))


def test_random_crop_window_and_no_draw_for_the_whole_frame():
    clip = _ramp(t=3)
    replay = _g(3)
    top, left = torch.randint(0, 3, (1,), generator=replay).item(), torch.randint(0, 4, (1,), generator=replay).item()
    out = RandomCrop((2, 3))(clip, _g(3))
    assert torch.equal(out, clip[..., top : top + 2, left : left + 3])
    assert (out[1].int() - out[0].int()).unique().tolist() == [50]  # the same window in frames 0 and 1
    g = _g(0)
    assert RandomCrop((4, 6)).get_params(4, 6, (4, 6), g) == (0, 0, 4, 6)
    assert torch.equal(g.get_state(), _g(0).get_state())  # as torchvision: no draw
    with pytest.raises(ValueError, match="larger than the frames"):
        RandomCrop(5)(clip, _g(0))


def test_short_side_scale_draws_an_integer_in_the_closed_range():
    jitter = RandomShortSideScale(4, 6)
    sides = {jitter.get_params(_g(s)) for s in range(60)}
    assert sides == {4, 5, 6}  # both ends included
    clip = _ramp(t=2)  # 4 x 6
    for seed in range(10):
        side = jitter.get_params(_g(seed))
        out = jitter(clip, _g(seed))
        assert out.shape == (2, 3, side, int(side * 6 / 4))  # aspect kept, longer side truncated
    assert torch.equal(RandomShortSideScale(4, 4)(clip, _g(0)), clip)  # already 4: untouched
    assert RandomShortSideScale(5, 5, resize_mode="squash")(clip, _g(0)).shape == (2, 3, 5, 5)


def test_horizontal_flip_follows_its_draw():
    clip = _ramp(t=2)
    assert torch.equal(RandomHorizontalFlip(1.0)(clip, _g(0)), clip.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(clip, _g(0)), clip)
    for seed in range(10):
        flipped = torch.rand(1, generator=_g(seed)).item() < 0.5
        out = RandomHorizontalFlip(0.5)(clip, _g(seed))
        assert torch.equal(out, clip.flip(-1) if flipped else clip)


@pytest.mark.parametrize("make, match", [
    (lambda: RandomResizedCrop(8, scale=(0.5, 0.2)), "scale must be two numbers"),
    (lambda: RandomResizedCrop(8, scale=(0.5, 1.2)), "at most 1"),
    (lambda: RandomResizedCrop(8, ratio=(0.0, 1.0)), "ratio must be two numbers"),
    (lambda: RandomShortSideScale(9, 8), "min_size <= max_size"),
    (lambda: RandomHorizontalFlip(1.5), r"p must be in \[0, 1\]"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
