"""RandAugment: torchvision's magnitude tables, its draws, each op at a fixed magnitude on a tiny
uint8 frame, and one set of ops for every frame of a clip."""

import pytest
import torch

from vidlift.data.augment import OPS, RandAugment, apply_op
from vidlift.data.augment import functional as AF


def _g(seed):
    return torch.Generator().manual_seed(seed)


def test_magnitude_tables_at_bin_9_of_31():
    space = RandAugment.augmentation_space(31, (40, 224))
    assert list(space) == list(OPS)
    at9 = {name: (float(m[9]) if m.ndim else 0.0, signed) for name, (m, signed) in space.items()}
    assert at9["ShearX"][0] == pytest.approx(0.09) and at9["ShearX"][1]  # 0.3 · 9 / 30
    assert at9["Rotate"] == (pytest.approx(9.0), True)  # 30° · 9 / 30
    assert at9["Brightness"][0] == pytest.approx(0.27) and at9["Sharpness"][1]
    assert at9["TranslateX"][0] == pytest.approx(150 / 331 * 224 * 9 / 30)  # 40.8 px of the width
    assert at9["TranslateY"][0] == pytest.approx(150 / 331 * 40 * 9 / 30)  # of the height
    assert at9["Posterize"] == (7, False)  # 8 - round(9 / 7.5)
    assert at9["Solarize"] == (pytest.approx(255 - 9 * 8.5), False)
    assert at9["Identity"] == at9["Equalize"] == (0.0, False)


def test_draws_follow_torchvision_order():
    ra = RandAugment(num_ops=3, magnitude=9)
    names = list(OPS)
    space = ra.augmentation_space(31, (8, 8))
    for seed in range(8):
        replay, expected = _g(seed), []
        for _ in range(3):
            name = names[torch.randint(14, (1,), generator=replay).item()]
            m, signed = space[name]
            value = float(m[9]) if m.ndim else 0.0
            if signed and torch.randint(2, (1,), generator=replay).item():
                value = -value
            expected.append((name, value))
        assert ra.get_params((8, 8), _g(seed)) == expected


def _frame():
    return torch.tensor([[[10, 200, 60, 120]] * 4, [[0, 50, 100, 150]] * 4, [[255, 5, 30, 90]] * 4],
                        dtype=torch.uint8)  # (3, 4, 4): the same row four times


def test_each_op_at_a_fixed_magnitude():
    x = _frame()
    # colour ops use the factor 1 + magnitude: Brightness +0.27 multiplies by 1.27 (truncated)
    assert apply_op(x, "Brightness", 0.27)[0, 0].tolist() == [12, 254, 76, 152]
    assert apply_op(x, "Brightness", -0.27)[0, 0].tolist() == [7, 146, 43, 87]
    assert torch.equal(apply_op(x, "Color", -1.0), AF.rgb_to_grayscale(x).expand(3, 4, 4))
    assert torch.equal(apply_op(x, "Contrast", 0.5), AF.adjust_contrast(x, 1.5))
    assert torch.equal(apply_op(x, "Sharpness", 0.27), AF.adjust_sharpness(x, 1.27))
    assert apply_op(x, "Posterize", 7.0)[0, 0].tolist() == [10, 200, 60, 120]  # even values keep 7 bits
    assert apply_op(x, "Posterize", 4.0)[2, 0].tolist() == [240, 0, 16, 80]
    assert apply_op(x, "Solarize", 178.5)[0, 0].tolist() == [10, 55, 60, 120]  # only 200 >= 178.5
    assert apply_op(x, "AutoContrast", 0.0)[1, 0].tolist() == [0, 85, 170, 255]
    assert torch.equal(apply_op(x, "Identity", 5.0), x)
    # TranslateX by int(1.9) = 1 px right; TranslateY by int(-1.9) = -1: one row up
    assert apply_op(x, "TranslateX", 1.9)[0, 0].tolist() == [0, 10, 200, 60]
    assert apply_op(x, "TranslateY", -1.9)[0, :, 0].tolist() == [10, 10, 10, 0]
    assert torch.equal(apply_op(x, "Rotate", 90.0), torch.rot90(x, 1, dims=(-2, -1)))
    # ShearY by 0.3 about the top-left corner: column x samples row y + 0.3·(x + 1/2): columns 2, 3 up by one
    sheared = apply_op(torch.arange(16, dtype=torch.uint8).view(4, 4).expand(3, 4, 4).clone(), "ShearY", 0.3)
    assert sheared[0].tolist() == [[0, 1, 6, 7], [4, 5, 10, 11], [8, 9, 14, 15], [12, 13, 0, 0]]
    with pytest.raises(ValueError, match="unknown RandAugment op 'Blur'"):
        apply_op(x, "Blur", 1.0)


def test_the_same_ops_for_every_frame_of_a_clip():
    g0 = _g(11)
    frames = torch.randint(0, 256, (3, 3, 10, 12), dtype=torch.uint8, generator=g0)
    ra = RandAugment(num_ops=4, magnitude=15)
    for seed in range(10):
        ops = ra.get_params((10, 12), _g(seed))
        out = ra(frames, _g(seed))
        for t in range(3):
            expected = frames[t]
            for name, magnitude in ops:
                expected = apply_op(expected, name, magnitude)
            assert torch.equal(out[t], expected)
        same = ra(frames[0].expand(5, 3, 10, 12).clone(), _g(seed))
        assert all(torch.equal(same[t], same[0]) for t in range(5))


def test_no_ops_is_identity_and_bad_arguments():
    x = _frame()
    assert torch.equal(RandAugment(num_ops=0)(x, _g(0)), x)
    with pytest.raises(ValueError, match=r"magnitude is a bin in \[0, num_magnitude_bins=31\)"):
        RandAugment(magnitude=31)
    with pytest.raises(ValueError, match="num_ops must be >= 0"):
        RandAugment(num_ops=-1)
    with pytest.raises(ValueError, match="fill needs one value per channel"):
        RandAugment(fill=[1, 2])
