"""Feature cache: content-addressed folders, resumable fills, and training from the cache
giving the same losses as running the frozen backbone end to end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidlift.data.clips import VideoClips
from vidlift.data.sources import list_videos
from vidlift.data.video import SegmentSampler
from vidlift.features.cache import FeatureCache
from vidlift.synthetic.synth import generate
from vidlift.transfer import Strategy, TransferModel

from .conftest import tiny_backbone


class _LastLayerHead(nn.Module):
    """Reads the last block's tokens (like a side network) and the frame embeddings."""

    def __init__(self, width: int, dim: int, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.proj = nn.Linear(width, dim)
        self.mix = nn.Linear(dim, dim)

    def forward(self, feats):
        tokens = feats.layers[self.layer].mean(2)  # (B, T, D)
        return (self.mix(feats.frames) + self.proj(tokens)).mean(1)


@dataclass
class _SideProbe(Strategy):
    name: ClassVar[str] = "side_probe_test"
    family: ClassVar[str] = "side-tuning"
    paper: ClassVar[str] = "test"
    needs_frozen_backbone: ClassVar[bool] = True

    def needs_layers(self, depth: int) -> list[int]:
        return [depth - 1]

    def apply(self, model: TransferModel) -> None:
        torch.manual_seed(0)
        model.set_role("video_head", _LastLayerHead(model.width, model.embed_dim, model.depth - 1))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = generate("recognition", tmp_path_factory.mktemp("rec"), num_videos=6, size=32, seed=3, workers=0,
                      progress=False)
    return list_videos(folder / "videos")


def _train(model, batches, steps=3):
    opt = torch.optim.SGD([p for _, p in model.trainable_parameters()], lr=0.5)
    texts = model.encode_classes(["circle", "star"]).detach()
    losses = []
    for step in range(steps):
        x, labels = batches[step % len(batches)]
        # Pixels run the backbone every step (end to end); VideoFeatures come from the cache.
        out = model.encode_video(x) if isinstance(x, torch.Tensor) else model.encode_video_from_features(x)
        loss = F.cross_entropy(model.logits(out, texts), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_training_from_cache_equals_end_to_end(videos, tmp_path):
    sampler = SegmentSampler(4)
    labels = torch.tensor([i % 2 for i in range(len(videos))])
    bb = tiny_backbone("tiny-clip")
    end_to_end = TransferModel(bb, [_SideProbe()], num_frames=4)
    data = VideoClips(videos, sampler, bb.preprocess)
    pixels = torch.stack([data[i]["video"] for i in range(len(videos))])
    batches_e2e = [(pixels[s:s + 3], labels[s:s + 3]) for s in (0, 3)]
    direct = end_to_end.video_features(pixels[:3])
    assert direct.layers[1].requires_grad is False  # no autograd through the frozen backbone

    cache = FeatureCache(tmp_path / "cache")
    cached, summary = cache.fill(tiny_backbone("tiny-clip"), videos, sampler, layers=end_to_end.cache_layers,
                                 batch_size=2, progress=False)
    assert summary.done == len(videos) and len(cached) == len(videos)
    from_cache = TransferModel(tiny_backbone("tiny-clip"), [_SideProbe()], num_frames=4)
    ids = [v.video_id for v in videos]
    batches_cache = [(from_cache.features_from_cache(cached.batch(ids[s:s + 3])), labels[s:s + 3]) for s in (0, 3)]
    torch.testing.assert_close(batches_cache[0][0].frames, direct.frames, atol=1e-6, rtol=0)

    a, b = _train(end_to_end, batches_e2e), _train(from_cache, batches_cache)
    assert a[0] != a[-1]  # it trained
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-6


def test_cache_key_separates_settings_and_fill_resumes(videos, tmp_path):
    cache = FeatureCache(tmp_path)
    bb = tiny_backbone("tiny-clip")
    d4 = cache.directory(bb, SegmentSampler(4), layers=[1])
    assert d4 == cache.directory(tiny_backbone("tiny-clip"), SegmentSampler(4), layers=[-1])  # same settings
    assert d4 != cache.directory(bb, SegmentSampler(8), layers=[1])
    assert d4 != cache.directory(bb, SegmentSampler(4), layers=[0])
    assert d4 != cache.directory(tiny_backbone("tiny-clip", seed=1), SegmentSampler(4), layers=[1])
    _, first = cache.fill(bb, videos[:3], SegmentSampler(4), layers=[1], progress=False)
    before = {p: p.stat().st_mtime_ns for p in (d4 / "features").iterdir()}
    cached, second = cache.fill(bb, videos, SegmentSampler(4), layers=[1], progress=False)
    assert (first.done, second.done, second.skipped) == (3, 3, 3)
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # done videos were not rewritten
    assert cached.load(videos[0].video_id)["layers.1"].shape == (4, 17, 64)
    with pytest.raises(KeyError, match="not in the feature cache"):
        cached.load("nope")


def test_cache_refuses_models_whose_backbone_trains():
    @dataclass
    class _Trains(Strategy):
        name: ClassVar[str] = "trains_test"
        family: ClassVar[str] = "partial tuning"
        paper: ClassVar[str] = "test"
        trains_backbone: ClassVar[bool] = True

        def apply(self, model):
            model.train_backbone(["visual.ln_post.weight"])

    model = TransferModel(tiny_backbone(), [_Trains()], num_frames=4)
    assert not model.trains_from_cache
    with pytest.raises(ValueError, match="trains_test"):
        model.features_from_cache({"frames": torch.zeros(1, 4, 32)})
    side = TransferModel(tiny_backbone(), [_SideProbe()], num_frames=4)
    with pytest.raises(KeyError, match=r"layers=\[1\]"):
        side.features_from_cache({"frames": torch.zeros(1, 4, 32)})
