"""ColorJitter, its hue shift, and RandomGrayscale on uint8 clips: values worked by hand, one
draw per clip."""

import pytest
import torch

from vidlift.data.augment import ColorJitter, RandomGrayscale, TrainTransform, build_train_transform
from vidlift.data.augment import functional as AF
from vidlift.data.transforms import VideoTransform


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _rgb(*pixels):
    return torch.tensor(pixels, dtype=torch.uint8).T.reshape(3, 1, len(pixels))


def test_hue_turns_the_colour_wheel():
    x = _rgb((255, 0, 0), (0, 0, 255), (90, 90, 90))
    # red + 1/3 turn is green, blue + 1/3 is red, red + 1/2 is cyan; grey has no hue to turn
    assert AF.adjust_hue(x, 1 / 3)[:, 0].T.tolist() == [[0, 255, 0], [255, 0, 0], [90, 90, 90]]
    assert AF.adjust_hue(x, 0.5)[:, 0, 0].tolist() == [0, 255, 255]
    assert AF.adjust_hue(x, -1 / 3)[:, 0, 0].tolist() == [0, 0, 255]
    # 0 keeps every value: v · 255.999 truncated gives back the uint8 value
    mixed = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8, generator=_g(0))
    assert torch.equal(AF.adjust_hue(mixed, 0.0), mixed)
    with pytest.raises(ValueError, match=r"hue_factor must be in \[-0.5, 0.5\]"):
        AF.adjust_hue(x, 0.6)


def test_jitter_factors_ranges_and_order():
    x = _rgb((100, 50, 20))
    assert ColorJitter(brightness=(2.0, 2.0))(x, _g(0)).flatten().tolist() == [200, 100, 40]
    cj = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    assert (cj.brightness, cj.saturation, cj.hue) == ((0.6, 1.4), (0.8, 1.2), (-0.1, 0.1))
    assert ColorJitter(brightness=2.0).brightness == (0.0, 3.0)  # the low end clipped at 0
    assert ColorJitter(contrast=0.0).contrast is None  # off
    # draws: a permutation of the four, then one factor per adjustment that is on
    replay = _g(4)
    order = torch.randperm(4, generator=replay).tolist()
    b = torch.empty(1).uniform_(0.6, 1.4, generator=replay).item()
    h = torch.empty(1).uniform_(-0.1, 0.1, generator=replay).item()
    assert ColorJitter(brightness=0.4, hue=0.1).get_params(_g(4)) == (order, pytest.approx(b), None, None,
                                                                     pytest.approx(h))


def test_the_same_jitter_for_every_frame_and_random_apply():
    frames = torch.randint(0, 256, (4, 3, 6, 8), dtype=torch.uint8, generator=_g(1))
    cj = ColorJitter(0.4, 0.4, 0.4, 0.2)
    for seed in range(6):
        order, b, c, s, h = cj.get_params(_g(seed))
        out = cj(frames, _g(seed))
        ops = [(AF.adjust_brightness, b), (AF.adjust_contrast, c), (AF.adjust_saturation, s), (AF.adjust_hue, h)]
        for t in range(4):
            expected = frames[t]
            for k in order:
                expected = ops[k][0](expected, ops[k][1])
            assert torch.equal(out[t], expected)
    assert torch.equal(ColorJitter(0.4, p=0.0)(frames, _g(0)), frames)
    applied = [not torch.equal(ColorJitter(0.4, p=0.5)(frames, _g(s)), frames) for s in range(10)]
    assert applied == [torch.rand(1, generator=_g(s)).item() <= 0.5 for s in range(10)]


def test_random_grayscale():
    frames = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8, generator=_g(2))
    grey = RandomGrayscale(1.0)(frames, _g(0))
    assert torch.equal(grey, AF.rgb_to_grayscale(frames).expand(2, 3, 4, 5))
    assert torch.equal(RandomGrayscale(0.0)(frames, _g(0)), frames)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        RandomGrayscale(2.0)


def test_train_transform_with_colour_keeps_identical_frames_identical():
    base = VideoTransform(8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    tf = build_train_transform(base, {"color_jitter": {"brightness": 0.4, "hue": 0.1, "p": 0.8}, "grayscale": 0.2})
    assert isinstance(tf, TrainTransform) and tf.color_jitter.p == 0.8 and tf.grayscale.p == 0.2
    frame = torch.randint(0, 256, (1, 12, 10, 3), dtype=torch.uint8, generator=_g(3))
    clip = frame.expand(5, 12, 10, 3).clone()
    for seed in range(5):
        out = tf(clip, _g(seed))
        assert all(torch.equal(out[t], out[0]) for t in range(5))
