import ast
import pathlib

import pytest
import torch

import vidlift.data.transforms as T
from vidlift.data.transforms import (
    VideoTransform,
    center_crop,
    hflip,
    normalize,
    random_crop,
    resize_shorter,
    resize_square,
    shorter_side_size,
    to_float_video,
)

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def ramp_video(t=3, h=48, w=64) -> torch.Tensor:
    """uint8 (T, H, W, 3): every pixel different within a frame, frames offset by t."""
    y = torch.arange(h).view(h, 1)
    x = torch.arange(w).view(1, w)
    base = torch.stack(torch.broadcast_tensors((2 * x + y) % 200, (3 * y + x) % 200, (x + 5 * y) % 200), -1)
    return torch.stack([base + 10 * i for i in range(t)]).to(torch.uint8)


def test_to_float_video_layout():
    frames = ramp_video()
    video = to_float_video(frames)
    assert video.shape == (3, 3, 48, 64) and video.dtype == torch.float32
    assert video[1, 2, 5, 7] == frames[1, 5, 7, 2].float()
    with pytest.raises(ValueError):
        to_float_video(frames.float())


@pytest.mark.parametrize("hw, expected", [((48, 64), (32, 42)), ((64, 48), (42, 32)), ((40, 40), (32, 32))])
def test_resize_shorter_keeps_aspect(hw, expected):
    assert shorter_side_size(*hw, 32) == expected
    video = torch.rand(2, 3, *hw)
    assert resize_shorter(video, 32).shape == (2, 3, *expected)


def test_resize_preserves_constant_and_interpolates_ramp():
    const = torch.full((1, 3, 48, 64), 77.0)
    for mode in ("bicubic", "bilinear"):
        assert torch.allclose(resize_shorter(const, 24, interpolation=mode), torch.full((1, 3, 24, 32), 77.0))
    # Bilinear 2x upsampling of a linear ramp stays linear away from the borders.
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8).contiguous()
    up = resize_square(ramp, 16, interpolation="bilinear")
    steps = up[0, 0, 4, 2:-2].diff()
    assert torch.allclose(steps, torch.full_like(steps, 0.5))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_removes_aliasing(mode):
    # 1-pixel checkerboard downsampled 3x: point sampling lands on every third pixel and
    # keeps a full-contrast checkerboard; the antialias low-pass gives flat grey.
    y, x = torch.meshgrid(torch.arange(66), torch.arange(66), indexing="ij")
    board = ((x + y) % 2 * 255.0).view(1, 1, 66, 66).expand(1, 3, 66, 66).contiguous()
    smooth = resize_square(board, 22, interpolation=mode, antialias=True)
    aliased = resize_square(board, 22, interpolation=mode, antialias=False)
    assert (smooth - 127.5).abs().max() < 3.0
    assert aliased.min() == 0 and aliased.max() == 255


def test_resize_square_ignores_aspect():
    video = torch.zeros(1, 3, 48, 96)
    video[..., 48:] = 255.0  # right half white
    out = resize_square(video, 32)
    assert out.shape == (1, 3, 32, 32)
    assert out[..., :, :12].max() < 1 and out[..., :, 20:].min() > 254


def test_center_crop_position():
    video = to_float_video(ramp_video(h=48, w=64))
    out = center_crop(video, 32)
    assert torch.equal(out, video[..., 8:40, 16:48])
    assert torch.equal(center_crop(video, (20, 30)), video[..., 14:34, 17:47])
    with pytest.raises(ValueError, match="larger"):
        center_crop(video, 50)


def test_random_crop_same_window_for_all_frames():
    video = to_float_video(ramp_video(t=4))
    out = random_crop(video, 16, torch.Generator().manual_seed(0))
    assert out.shape == (4, 3, 16, 16)
    # Frames differ by a constant offset of 10 per frame: the same window keeps that.
    for i in range(4):
        assert torch.equal(out[i] - 10 * i, out[0])
    # The window is one of the valid positions of the uncropped frame.
    found = [
        (top, left)
        for top in range(48 - 16 + 1)
        for left in range(64 - 16 + 1)
        if torch.equal(video[0, :, top : top + 16, left : left + 16], out[0])
    ]
    assert len(found) == 1


def test_random_crop_reproducible_and_varied():
    video = to_float_video(ramp_video(t=1))
    a = random_crop(video, 16, torch.Generator().manual_seed(5))
    b = random_crop(video, 16, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    outs = {random_crop(video, 16, torch.Generator().manual_seed(s))[0, 0, 0, 0].item() for s in range(20)}
    assert len(outs) > 5


def test_hflip_and_normalize():
    video = torch.arange(6.0).view(1, 1, 2, 3).expand(1, 3, 2, 3)
    assert hflip(video)[0, 0, 0].tolist() == [2.0, 1.0, 0.0]
    out = normalize(torch.full((1, 3, 2, 2), 0.5), (0.5, 0.25, 0.0), (0.5, 0.25, 2.0))
    assert out[0, :, 0, 0].tolist() == [0.0, 1.0, 0.25]
    with pytest.raises(ValueError):
        normalize(torch.zeros(1, 3, 2, 2), (0.5,) * 2, (1.0,) * 3)


def test_video_transform_eval_shapes_and_values():
    frames = torch.full((5, 48, 64, 3), 128, dtype=torch.uint8)
    out = VideoTransform(32, MEAN, STD)(frames)
    assert out.shape == (5, 3, 32, 32) and out.dtype == torch.float32
    expected = (128 / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.allclose(out[0, :, 10, 10], expected, atol=1e-6)
    assert torch.equal(out, VideoTransform(32, MEAN, STD)(frames))  # deterministic


def test_video_transform_eval_equals_functional_chain():
    frames = ramp_video(t=2, h=48, w=80)
    out = VideoTransform(32, MEAN, STD, interpolation="bilinear")(frames)
    video = resize_shorter(to_float_video(frames), 32, interpolation="bilinear").clamp(0, 255).round()
    ref = normalize(center_crop(video, 32) / 255, MEAN, STD)
    assert torch.allclose(out, ref, atol=1e-6)


def test_video_transform_squash_mode():
    frames = torch.zeros(2, 40, 80, 3, dtype=torch.uint8)
    frames[:, :, 40:] = 255
    out = VideoTransform(20, (0.0,) * 3, (1.0,) * 3, resize_mode="squash")(frames)
    assert out.shape == (2, 3, 20, 20)
    assert out[..., :8].max() < 0.01 and out[..., 12:].min() > 0.99  # nothing cropped away


def test_video_transform_train_same_crop_and_flip_for_all_frames():
    # Identical frames must stay identical after random crop + flip.
    frames = ramp_video(t=1).expand(6, -1, -1, -1).contiguous()
    transform = VideoTransform(24, MEAN, STD, train=True, resize_size=36)
    for seed in range(10):
        out = transform(frames, torch.Generator().manual_seed(seed))
        assert out.shape == (6, 3, 24, 24)
        assert all(torch.equal(out[0], out[i]) for i in range(1, 6))


def test_video_transform_train_flip_and_crop_are_random_and_reproducible():
    frames = ramp_video(t=2)
    never = VideoTransform(24, MEAN, STD, train=True, resize_size=36, flip_prob=0.0)
    always = VideoTransform(24, MEAN, STD, train=True, resize_size=36, flip_prob=1.0)
    a = never(frames, torch.Generator().manual_seed(3))
    b = always(frames, torch.Generator().manual_seed(3))
    assert torch.equal(b, a.flip(-1))  # same crop, mirrored
    crops = {never(frames, torch.Generator().manual_seed(s))[0, 0, 0, 0].item() for s in range(10)}
    assert len(crops) > 3
    # Squashed to the output size there is no room to crop: only the flip is random.
    half = VideoTransform(24, MEAN, STD, resize_mode="squash", train=True, flip_prob=0.5)
    ref = VideoTransform(24, MEAN, STD, resize_mode="squash")(frames)
    flips = [torch.equal(half(frames, torch.Generator().manual_seed(s)), ref.flip(-1)) for s in range(40)]
    assert 5 < sum(flips) < 35


def test_video_transform_validates_arguments():
    with pytest.raises(ValueError, match="resize_mode"):
        VideoTransform(32, MEAN, STD, resize_mode="crop")
    with pytest.raises(ValueError, match="resize_size"):
        VideoTransform(32, MEAN, STD, resize_size=16)
    with pytest.raises(ValueError, match="uint8"):
        VideoTransform(32, MEAN, STD)(torch.zeros(2, 48, 64, 3))


def test_transforms_do_not_import_backbones():
    tree = ast.parse(pathlib.Path(T.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert not any("backbones" in name for name in imported)
    assert imported <= {"__future__", "collections.abc", "typing", "torch", "torch.nn.functional"}
