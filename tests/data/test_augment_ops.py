"""uint8 image ops of vidlift.data.augment.functional on tiny frames, against values worked out
by hand from torchvision's definitions (the parity test checks them against torchvision itself)."""

import math

import pytest
import torch

from vidlift.data.augment import functional as AF


def _rgb(*pixels):
    """One frame (3, 1, N) from N RGB pixels."""
    return torch.tensor(pixels, dtype=torch.uint8).T.reshape(3, 1, len(pixels))


def _plane(rows, channels=3):
    """One frame (3, H, W) with the same values in every channel."""
    return torch.tensor(rows, dtype=torch.uint8).expand(channels, -1, -1).clone()


def test_brightness_blends_with_black_and_truncates():
    x = _rgb((100, 200, 101))
    assert AF.adjust_brightness(x, 1.5).flatten().tolist() == [150, 255, 151]  # 300 clipped to 255
    assert AF.adjust_brightness(x, 0.5).flatten().tolist() == [50, 100, 50]  # 50.5 truncated, not rounded
    assert torch.equal(AF.adjust_brightness(x, 1.0), x)


def test_saturation_blends_with_luma():
    x = _rgb((200, 100, 0))
    # luma = trunc(0.2989·200 + 0.587·100 + 0.114·0) = trunc(118.48) = 118
    assert AF.rgb_to_grayscale(x).flatten().tolist() == [118]
    assert AF.adjust_saturation(x, 0.0).flatten().tolist() == [118, 118, 118]
    # 2·x - 118 = (282, 82, -118), clipped
    assert AF.adjust_saturation(x, 2.0).flatten().tolist() == [255, 82, 0]


def test_contrast_blends_with_the_frames_mean_luma():
    x = torch.stack([_rgb((0, 0, 0), (100, 100, 100)), _rgb((10, 10, 10), (30, 30, 30))])  # two frames
    out = AF.adjust_contrast(x, 0.0)
    # luma of grey v is trunc(0.9999·v): 0, 99 (mean 49.5 -> 49) and 9, 29 (mean 19): per frame
    assert out[0].unique().tolist() == [49] and out[1].unique().tolist() == [19]
    # factor 2: 2·v - mean = (-49.5 -> 0, 150.5 -> 150)
    assert AF.adjust_contrast(x, 2.0)[0, 0, 0].tolist() == [0, 150]


def test_sharpness_blends_with_the_smoothed_frame_inside_the_border():
    x = _plane([[0, 0, 0], [0, 90, 0], [0, 0, 0]])
    # smoothed centre = round(5·90 / 13) = round(34.6) = 35; the border is kept
    assert AF.adjust_sharpness(x, 0.0)[0].tolist() == [[0, 0, 0], [0, 35, 0], [0, 0, 0]]
    assert AF.adjust_sharpness(x, 2.0)[0, 1, 1].item() == 2 * 90 - 35
    small = _plane([[5, 9], [1, 2]])
    assert torch.equal(AF.adjust_sharpness(small, 0.0), small)  # 2 px sides: unchanged, as torchvision


def test_posterize_solarize_invert():
    x = _rgb((255, 100, 128))
    assert AF.posterize(x, 2).flatten().tolist() == [192, 64, 128]  # the two high bits
    assert AF.posterize(x, 8).flatten().tolist() == [255, 100, 128]
    assert AF.solarize(x, 128).flatten().tolist() == [0, 100, 127]  # >= 128 inverted
    assert AF.invert(x).flatten().tolist() == [0, 155, 127]


def test_autocontrast_stretches_each_channel_of_each_frame():
    x = torch.tensor([[[50, 100, 150]], [[7, 7, 7]], [[0, 10, 20]]], dtype=torch.uint8)
    out = AF.autocontrast(x)
    assert out[0, 0].tolist() == [0, 127, 255]  # (v - 50) · 255 / 100, 127.5 truncated
    assert out[1, 0].tolist() == [7, 7, 7]  # a constant channel is kept
    assert out[2, 0].tolist() == [0, 127, 255]


def test_equalize_hand_worked_histogram():
    # 400 pixels: 200 of 10, 100 of 20, 100 of 30. step = (400 - 100 at the top value) // 255 = 1;
    # lut[v] = pixels below v, so 10 -> 0, 20 -> 200, 30 -> 300 clipped to 255.
    values = torch.tensor([10] * 200 + [20] * 100 + [30] * 100, dtype=torch.uint8).view(20, 20)
    x = values.expand(3, 20, 20).clone()
    x[2] = 5  # one constant channel: step 0 keeps it
    out = AF.equalize(x)
    assert out[0].unique().tolist() == [0, 200, 255]
    assert torch.equal(out[0] == 200, values == 20) and torch.equal(out[1], out[0])
    assert out[2].unique().tolist() == [5]
    # per frame: a frame with another histogram gets its own table
    clip = torch.stack([x, x.flip(-1) // 2])
    assert torch.equal(AF.equalize(clip)[0], out) and torch.equal(AF.equalize(clip)[1], AF.equalize(x.flip(-1) // 2))


def test_translate_moves_content_right_and_down():
    x = _plane([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    right = AF.affine(x, 0.0, [1, 0], 1.0, [0.0, 0.0])
    assert right[0].tolist() == [[0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11]]
    down = AF.affine(x, 0.0, [0, 1], 1.0, [0.0, 0.0], fill=[7, 7, 7])
    assert down[0].tolist() == [[7, 7, 7, 7], [1, 2, 3, 4], [5, 6, 7, 8]]


def test_rotate_90_is_rot90_counter_clockwise():
    x = _plane([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert AF.rotate(x, 90.0)[0].tolist() == [[3, 6, 9], [2, 5, 8], [1, 4, 7]]
    assert torch.equal(AF.rotate(x, 90.0), torch.rot90(x, 1, dims=(-2, -1)))


def test_shear_x_about_the_top_left_corner():
    # ShearX by m samples row y at column x + m·(y + 1/2) (pixel centres, top-left origin):
    # m = 0.3 gives offsets 0.15, 0.45, 0.75, 1.05 -> rows 2 and 3 move left by one pixel.
    x = _plane([[1, 2, 3, 4]] * 4)
    out = AF.affine(x, 0.0, [0, 0], 1.0, [math.degrees(math.atan(0.3)), 0.0], center=[0, 0])
    assert out[0].tolist() == [[1, 2, 3, 4], [1, 2, 3, 4], [2, 3, 4, 0], [2, 3, 4, 0]]


def test_crop_resize_and_flip():
    ramp = _plane([[10 * y + 2 * x for x in range(6)] for y in range(4)])
    assert AF.crop(ramp, 1, 2, 2, 3)[0].tolist() == [[14, 16, 18], [24, 26, 28]]
    # 2x2 -> 1x1 averages the four symmetric pixels: (0 + 2 + 10 + 12) / 4 = 6
    assert AF.resized_crop(ramp, 0, 0, 2, 2, (1, 1), "bilinear").flatten().tolist() == [6, 6, 6]
    assert AF.resized_crop(ramp, 0, 0, 2, 2, (1, 1), "bicubic").flatten().tolist() == [6, 6, 6]
    assert torch.equal(AF.resize(ramp, (4, 6)), ramp)
    assert AF.hflip(ramp)[0, 0].tolist() == [10, 8, 6, 4, 2, 0]
    with pytest.raises(ValueError, match="not inside"):
        AF.crop(ramp, 3, 0, 2, 2)


def test_ops_keep_a_clip_of_identical_frames_identical():
    frame = torch.randint(0, 256, (3, 7, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    clip = frame.expand(4, 3, 7, 9).clone()
    for op in (lambda v: AF.rotate(v, 17.0), lambda v: AF.affine(v, 0.0, [0, 0], 1.0, [10.0, 0.0], [0, 0]),
               lambda v: AF.adjust_contrast(v, 1.7), lambda v: AF.adjust_sharpness(v, 1.9),
               AF.equalize, AF.autocontrast, lambda v: AF.resized_crop(v, 1, 2, 5, 6, (4, 4))):
        out = op(clip)
        assert torch.equal(out, op(frame).expand_as(out))


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"uint8 frames \(\.\.\., 3, H, W\)"):
        AF.adjust_brightness(torch.zeros(3, 2, 2), 1.0)
    with pytest.raises(ValueError, match="brightness_factor must be non-negative"):
        AF.adjust_brightness(torch.zeros(3, 2, 2, dtype=torch.uint8), -1.0)
    with pytest.raises(ValueError, match="bits must be in"):
        AF.posterize(torch.zeros(3, 2, 2, dtype=torch.uint8), 9)
