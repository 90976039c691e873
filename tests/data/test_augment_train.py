"""TrainTransform: the train split's transform from the backbone's test transform and a
``data.augment`` mapping; seeded per (seed, epoch, index) through VideoClips."""

from pathlib import Path

import pytest
import torch

from vidlift.data.augment import (
    AugmentError,
    RandAugment,
    RandomResizedCrop,
    TrainTransform,
    build_train_transform,
    check_augment,
    flip_probability,
    short_side_pixels,
)
from vidlift.data.augment import functional as AF
from vidlift.data.augment.train import AugmentConfig
from vidlift.data.clips import VideoClips
from vidlift.data.sources import VideoItem
from vidlift.data.transforms import VideoTransform, normalize
from vidlift.data.video import SegmentSampler

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.1)
BASE = VideoTransform(16, MEAN, STD, interpolation="bilinear")


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _frames(t=3, h=20, w=28, seed=0):
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=_g(seed))


def _defaults(**keys):
    return {**AugmentConfig().__dict__, **keys}


def test_center_crop_without_flip_is_the_test_transform():
    frames = _frames()
    tf = TrainTransform(BASE, crop="center", flip=0.0)
    assert torch.equal(tf(frames, _g(0)), BASE(frames))


def test_random_resized_crop_flip_then_normalise():
    frames = _frames()
    tf = TrainTransform(BASE, crop="random_resized", scale=(0.3, 0.8), flip=0.5)
    for seed in range(6):
        replay = _g(seed)
        box = RandomResizedCrop.get_params(20, 28, (0.3, 0.8), (0.75, 4 / 3), replay)
        flipped = torch.rand(1, generator=replay).item() < 0.5
        video = AF.resized_crop(frames.permute(0, 3, 1, 2), *box, (16, 16), "bilinear")
        video = video.flip(-1) if flipped else video
        expected = normalize(video.float() / 255, MEAN, STD)
        out = tf(frames, _g(seed))
        assert out.shape == (3, 3, 16, 16) and out.dtype == torch.float32
        torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_every_frame_gets_the_same_treatment():
    frame = _frames(t=1)[0]
    clip = frame.expand(6, *frame.shape).clone()
    ra = RandAugment(num_ops=3, magnitude=20)
    for crop in ("random_resized", "scale_jitter", "random"):
        tf = TrainTransform(BASE, crop=crop, short_side=(16, 24), flip=0.5, rand_augment=ra)
        for seed in range(4):
            out = tf(clip, _g(seed))
            assert all(torch.equal(out[t], out[0]) for t in range(6)), (crop, seed)
    # frames that differ by a constant get the same window (a crop-only pipeline keeps the offset)
    ramp = torch.arange(20 * 28, dtype=torch.uint8).view(1, 20, 28, 1).expand(1, 20, 28, 3) // 4
    clip = torch.cat([ramp, ramp + 100])
    out = TrainTransform(BASE, crop="scale_jitter", short_side=(20, 20), flip=0.5)(clip, _g(3))
    torch.testing.assert_close((out[1] - out[0]) * torch.tensor(STD).view(3, 1, 1), torch.full((3, 16, 16), 100 / 255))


def test_randomness_comes_from_the_generator_only():
    frames = _frames()
    tf = TrainTransform(BASE, rand_augment=RandAugment())
    torch.manual_seed(0)
    a = tf(frames, _g(5))
    torch.manual_seed(1)
    assert torch.equal(a, tf(frames, _g(5)))
    assert not torch.equal(a, tf(frames, _g(6)))


def test_seeded_per_seed_epoch_and_index_by_video_clips(clips):
    item = VideoItem("good", Path(clips["h264_mp4"].path))
    tf = TrainTransform(VideoTransform(24, MEAN, STD), scale=(0.2, 0.5), rand_augment=RandAugment())
    # a test-mode sampler takes the same frames every epoch: only the augmentation can differ
    ds = VideoClips([item, item], SegmentSampler(4, "test"), tf, seed=3)
    a = ds[(0, 0)]["video"]
    assert a.shape == (4, 3, 24, 24)
    assert torch.equal(a, ds[(0, 0)]["video"])
    assert not torch.equal(a, ds[(1, 0)]["video"])  # another epoch
    assert not torch.equal(a, ds[(0, 1)]["video"])  # another index of the same video
    assert torch.equal(a, VideoClips([item], SegmentSampler(4, "test"), tf, seed=3)[(0, 0)]["video"])
    assert not torch.equal(a, VideoClips([item], SegmentSampler(4, "test"), tf, seed=4)[(0, 0)]["video"])


def test_short_side_in_pixels_or_multiples_of_the_input_size():
    assert short_side_pixels([256, 320], 224) == (256, 320)
    assert short_side_pixels([256 / 224, 320 / 224], 224) == (256, 320)
    assert short_side_pixels([1.142857, 1.428571], 64) == (73, 91)
    tf = build_train_transform(BASE, {"crop": "scale_jitter", "short_side": [1.0, 1.5]})
    assert (tf.short_side_scale.min_size, tf.short_side_scale.max_size) == (16, 24)
    with pytest.raises(AugmentError, match=r"data.augment.short_side: \[12, 20\] px: the shorter side must be at "
                                           r"least the backbone's input size 16"):
        build_train_transform(BASE, {"crop": "scale_jitter", "short_side": [12, 20]})


def test_flip_auto_follows_the_datasets_flip_safety():
    assert flip_probability("auto", True) == 0.5 and flip_probability("auto", False) == 0.0
    assert flip_probability(0.3, True) == 0.3 and flip_probability(0, False) == 0.0
    with pytest.raises(AugmentError, match=r"data.augment.flip: 0.5 mirrors training clips, but this dataset is not "
                                           r"flip-safe \(labels say left\)"):
        flip_probability(0.5, False, "labels say left")
    assert build_train_transform(BASE, {}, flip_safe=False).flip.p == 0.0
    assert build_train_transform(BASE, {"rand_augment": {"magnitude": 5}}).rand_augment.num_ops == 2


@pytest.mark.parametrize("keys, key, match", [
    ({"crop": "random_sized"}, "crop", "must be one of random_resized, scale_jitter, random, center"),
    ({"scale": [0.5, 0.1]}, "scale", r"two numbers \[min, max\] with 0 < min <= max <= 1.0"),
    ({"scale": [0.5, 1.5]}, "scale", "<= 1.0"),
    ({"ratio": [0.75]}, "ratio", "two numbers"),
    ({"short_side": [1.5, 256]}, "short_side", "both ends in pixels"),
    ({"short_side": [256.0, 320.0]}, "short_side", r"multiples of the input size, at most 4; .* write whole "
                                                   r"numbers \(\[256, 320\]\)"),
    ({"flip": "yes"}, "flip", r"'auto' or a probability in \[0, 1\], got 'yes'"),
    ({"flip": True}, "flip", "probability"),
    ({"rand_augment": {"num_ops": 2, "magnitude": 40, "num_magnitude_bins": 31}}, "rand_augment",
     "magnitude is a bin"),
    ({"rand_augment": {"num_opz": 2}}, "rand_augment", "num_opz"),
])
def test_bad_values_name_their_key(keys, key, match):
    with pytest.raises(AugmentError, match=match) as e:
        check_augment(_defaults(**keys))
    assert e.value.key == key and str(e.value).startswith(f"data.augment.{key}: ")


def test_unknown_key_in_a_plain_mapping():
    with pytest.raises(AugmentError, match="data.augment.flipp: unknown key; data.augment takes crop, scale"):
        build_train_transform(BASE, {"flipp": 0.5})
