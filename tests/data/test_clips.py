"""The one clip dataset: items, views, seeded randomness, and one policy for videos that do not
decode (an error record naming the file, dropped by collate and reported once; the feature
runner reports it as a failure)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tests.videos import read_indices
from vidlift.backbones import load_backbone
from vidlift.data.clips import VideoClips, collate_clips
from vidlift.data.sources import VideoItem
from vidlift.data.transforms import VideoTransform
from vidlift.data.video import MultiViewSampler, SegmentSampler
from vidlift.features.runner import iter_clip_features

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _raw(frames: torch.Tensor) -> torch.Tensor:
    return frames  # uint8 (N, H, W, 3) as decoded


@pytest.fixture()
def items(clips, tmp_path) -> list[VideoItem]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    return [VideoItem("good", Path(clips["h264_mp4"].path)), VideoItem("empty", empty),
            VideoItem("gone", tmp_path / "gone.mp4"), VideoItem(f"unknown-{tmp_path.name}", None)]


def test_items_and_the_bad_video_policy(items, caplog):
    ds = VideoClips(items, SegmentSampler(4), _raw)
    good = ds[0]
    assert good["video_id"] == "good" and good["index"] == 0 and good["video"].shape == (4, 48, 64, 3)
    assert good["fps"] == 25.0 and good["duration"] == pytest.approx(48 / 25)
    assert read_indices(good["video"]) == good["frame_indices"].tolist() == [6, 18, 30, 42]
    assert good["timestamps"].tolist() == pytest.approx([6 / 25, 18 / 25, 30 / 25, 42 / 25])
    errors = [ds[i] for i in (1, 2, 3)]
    assert all(set(e) == {"index", "video_id", "error"} for e in errors)
    assert "empty.mp4" in errors[0]["error"] and "empty" in errors[0]["error"]
    assert "gone.mp4" in errors[1]["error"] and "no such file" in errors[1]["error"]
    assert errors[2]["error"] == f"{items[3].video_id}: no video file for this entry"
    with caplog.at_level(logging.WARNING):
        batch = collate_clips([ds[i] for i in range(4)])
        again = collate_clips([ds[1], ds[0]])
    assert batch["video_id"] == ["good"] and batch["index"].tolist() == [0] and again["index"].tolist() == [0]
    assert caplog.text.count("empty.mp4") == 1 and caplog.text.count("does not decode") == 3  # each once
    assert collate_clips([ds[3]]) is None
    # Batches stay plain collections of tensors and lists, which Lightning moves to a device.
    from lightning.pytorch.utilities import move_data_to_device

    moved = move_data_to_device(collate_clips([ds[0], ds[0]]), torch.device("cpu"))
    assert moved["frame_indices"].shape == (2, 4) and moved["fps"].tolist() == [25.0, 25.0]


def test_config_errors_are_not_bad_videos(items):
    with pytest.raises(ValueError, match="unknown video backend"):
        VideoClips(items, SegmentSampler(4), _raw, backend="nonsense")
    with pytest.raises(TypeError, match="3-crop"):
        VideoClips(items, SegmentSampler(4), _raw, crops=3)

    def broken(frames):
        raise RuntimeError("a transform bug")

    with pytest.raises(RuntimeError, match="a transform bug"):  # not turned into an error record
        VideoClips(items, SegmentSampler(4), broken)[0]


def test_randomness_is_a_function_of_seed_epoch_and_index(items):
    tf = VideoTransform(32, MEAN, STD, train=True, resize_size=48)
    ds = VideoClips(items[:1] * 2, SegmentSampler(4, "train"), tf, seed=3)
    a = ds[(0, 0)]
    assert torch.equal(a["video"], ds[(0, 0)]["video"])
    assert torch.equal(a["frame_indices"], ds[0]["frame_indices"])
    assert not torch.equal(a["video"], ds[(1, 0)]["video"]) and not torch.equal(a["video"], ds[(0, 1)]["video"])
    ds.set_epoch(1)
    assert torch.equal(ds[0]["video"], ds[(1, 0)]["video"])
    other = VideoClips(items[:1], SegmentSampler(4, "train"), tf, seed=4)
    assert not torch.equal(other[(0, 0)]["video"], a["video"])


def test_views_are_clip_major(items):
    tf = VideoTransform(32, MEAN, STD, resize_size=40)
    ds = VideoClips(items[:1], MultiViewSampler(4, 2), tf, crops=3)
    item = ds[0]
    assert ds.views == 6 and item["video"].shape == (6, 4, 3, 32, 32)
    assert item["frame_indices"].tolist() == [3, 15, 27, 39, 9, 21, 33, 45]
    centre = VideoClips(items[:1], MultiViewSampler(4, 2), tf)[0]["video"]  # (2, 4, ...): the centre crops
    torch.testing.assert_close(item["video"][[1, 4]], centre)


def test_feature_runner_reports_each_failure_in_order(items, tmp_path):
    bb = load_backbone("random:tiny-clip")
    ds = VideoClips(items, SegmentSampler(4), bb.preprocess)
    results = list(iter_clip_features(bb.model, ds, batch_size=2))
    assert [r.item.video_id for r in results] == [it.video_id for it in items]
    assert results[0].error is None and results[0].embeds.shape == (4, bb.model.embed_dim)
    assert results[0].indices.tolist() == [6, 18, 30, 42] and results[0].fps == 25.0
    assert ["empty.mp4" in results[1].error, "gone.mp4" in results[2].error] == [True, True]
    assert results[3].error.endswith("no video file for this entry")
    # Several views per item are one frame sequence for the extractor.
    multi = list(iter_clip_features(bb.model, VideoClips(items[:1], MultiViewSampler(2, 2), bb.preprocess)))
    assert multi[0].embeds.shape == (4, bb.model.embed_dim) and multi[0].indices.tolist() == [6, 30, 18, 42]
