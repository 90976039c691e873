"""Side-tuning heads (evl, r2_tuning): they read frozen intermediate tokens computed without
autograd, train only themselves, start as the frozen meanP when fused (not the default), model time (EVL's temporal
modules, R²'s temporal attention), train from cached features, and refuse a backbone that
trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

from vidlift.backbones import load_backbone
from vidlift.transfer import Strategy, TransferCompositionError, TransferModel, VideoFeatures
from vidlift.transfer.frozen import EVL, R2Tuning, TemporalCrossAttention, TowerCompression

from .conftest import ARCHS, clips, deeper_tiny, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]
SIDE = (EVL, R2Tuning)


@dataclass
class _TrainsBackbone(Strategy):
    name: ClassVar[str] = "test_trains_backbone"
    family: ClassVar[str] = "partial tuning"
    paper: ClassVar[str] = "test"
    trains_backbone: ClassVar[bool] = True

    def apply(self, model):
        model.train_backbone(["visual.ln_post.weight"], "ln_post")


def _build(strategy, arch="tiny-clip", frames=4, backbone=None) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(backbone or tiny_backbone(arch), [strategy], num_frames=frames)


def _perturb(model: TransferModel, scale: float = 0.05) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in model.trainable_parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("cls", SIDE, ids=lambda c: c.name)
def test_side_network_gets_gradients_and_the_backbone_none(cls, arch):
    model = _build(cls(), arch)
    assert model.cache_layers == [0, 1]  # a 2-block tower: both blocks are read
    _perturb(model)
    model.train()
    out = model.encode_video(clips(2, 4))
    assert out.embedding.shape == (2, model.embed_dim)
    for i, t in out.features.layers.items():
        assert t.shape[:2] == (2, 4) and t.shape[-1] == model.width
        assert not t.requires_grad, f"block {i} tokens were computed with autograd"
    assert not out.features.frames.requires_grad
    loss = F.cross_entropy(model.logits(out, model.encode_classes(CLASSES)), torch.tensor([0, 2]))
    loss.backward()
    head = {id(p) for p in model.roles["video_head"].parameters()}
    assert {id(p) for _, p in model.trainable_parameters()} == head
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.trains_from_cache


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("cls", SIDE, ids=lambda c: c.name)
def test_side_network_fused_starts_as_frozen_mean_pool_and_trains_from_cache(cls, arch):
    model = _build(cls(fuse=True), arch).eval()
    video = clips(2, 4, seed=5)
    with torch.no_grad():
        out = model.encode_video(video)
        torch.testing.assert_close(out.embedding, model.backbone.encode_video(video).mean(1))
        _perturb(model)
        out = model.encode_video(video)
        assert not torch.allclose(out.embedding, out.features.frames.mean(1), atol=1e-4)
        cached = model.features_from_cache(model.backbone_features(video).to_tensors())
        torch.testing.assert_close(model.encode_video_from_features(cached).embedding, out.embedding)


@pytest.mark.parametrize("cls", SIDE, ids=lambda c: c.name)
def test_side_network_refuses_a_backbone_that_trains(cls):
    with pytest.raises(TransferCompositionError, match="frozen backbone"):
        TransferModel(tiny_backbone(), [cls(), _TrainsBackbone()], num_frames=4)
    with pytest.raises(TransferCompositionError, match="frozen backbone"):
        TransferModel(tiny_backbone(), [_TrainsBackbone(), cls()], num_frames=4)


@pytest.mark.parametrize("cls", SIDE, ids=lambda c: c.name)
def test_side_network_and_compressed_tower_student_do_not_mix(cls):
    with pytest.raises(TransferCompositionError, match="intermediate tokens"):
        TransferModel(tiny_backbone(), [cls(), TowerCompression()], num_frames=4)
    with pytest.raises(TransferCompositionError, match="intermediate tokens"):
        TransferModel(tiny_backbone(), [TowerCompression(), cls()], num_frames=4)


def test_layers_read():
    assert EVL().needs_layers(12) == [7, 8, 9, 10, 11]  # + block 7 for block 8's frozen q / k
    assert EVL(temporal_cross_attention=False).needs_layers(12) == [8, 9, 10, 11]
    assert EVL().needs_layers(2) == [0, 1] and EVL(layers=1).needs_layers(12) == [10, 11]
    assert R2Tuning().needs_layers(12) == [8, 9, 10, 11] and R2Tuning().needs_layers(2) == [0, 1]
    with pytest.raises(TransferCompositionError):
        EVL().needs_layers(1)
    with pytest.raises(ValueError, match="r2_tuning: layers must be a positive integer"):
        R2Tuning(layers=0)  # refused when the strategy is built
    model = _build(EVL(), backbone=deeper_tiny(4))
    assert model.cache_layers == [0, 1, 2, 3] and model.roles["video_head"].layer_ids == [1, 2, 3]
    assert len(model.roles["video_head"].decoder) == 3
    assert EVL(**EVL(layers=2, fuse=False).hyperparameters()) == EVL(layers=2, fuse=False)


@pytest.mark.parametrize("arch", ARCHS)
def test_evl_defaults_follow_the_reference_and_fill_pre_projection(arch):
    assert EVL().fuse is False and R2Tuning().fuse is False  # no such fusion in EVL's or R²'s code
    model = _build(EVL(), arch)
    head = model.roles["video_head"]
    assert torch.equal(head.query, torch.zeros(model.width))  # EVL's cls_token: zeros, never re-initialised
    assert head.proj[2].weight.abs().sum() > 0  # not fused: the output layer keeps nn.Linear's init
    _perturb(model)
    model.eval()
    video = clips(2, 4, seed=6)
    with torch.no_grad():
        out = model.encode_video(video)
        x = head.decode(out.features)
        assert x.shape == (2, model.width)
        pre = F.layer_norm(x, (model.width,), head.proj[0].weight, head.proj[0].bias)
        torch.testing.assert_close(out.pre_projection, pre)
        torch.testing.assert_close(out.embedding, pre @ head.proj[2].weight.T + head.proj[2].bias)
        fused = _build(EVL(fuse=True), arch)
        fused.load_state_dict(model.state_dict())
        fused.eval()
        out2 = fused.encode_video(video)
        torch.testing.assert_close(out2.pre_projection, pre)
        torch.testing.assert_close(out2.embedding, out.embedding + out.features.frames.mean(1))


def test_evl_frozen_qk_are_the_blocks_own_projections():
    model = _build(EVL())
    head = model.roles["video_head"]
    seen = {}
    block = model.backbone.visual.blocks[1]
    hooks = [block.attn.q_proj.register_forward_hook(lambda m, i, o: seen.__setitem__("q", o)),
             block.attn.k_proj.register_forward_hook(lambda m, i, o: seen.__setitem__("k", o))]
    feats = model.backbone_features(clips(2, 4))
    for h in hooks:
        h.remove()
    q, k = head.frozen_qk(0, feats.layers[0])
    assert q.shape == (2, 4, 17, block.attn.heads, 64 // block.attn.heads)
    torch.testing.assert_close(q.flatten(-2).flatten(0, 1), seen["q"])
    torch.testing.assert_close(k.flatten(-2).flatten(0, 1), seen["k"])
    assert not q.requires_grad


def test_temporal_cross_attention_matches_evl_unrolled_formula():
    torch.manual_seed(0)
    grid, dim, prefix = (3, 2), 5, 1
    m = TemporalCrossAttention(grid, dim)
    with torch.no_grad():
        m.w1.normal_()
        m.w2.normal_()
    b, t, n, h, d = 2, 3, 1 + 6, 2, 4
    q, k = torch.randn(b, t, n, h, d), torch.randn(b, t, n, h, d)
    out = m(q, k, prefix)
    # EVL's formula with the (P, P, D) unrolled table
    gh, gw = grid
    idx = torch.zeros(6, 6, dtype=torch.long)
    for a in range(6):
        for c in range(6):
            idx[a, c] = (a // gw - c // gw + gh - 1) * (2 * gw - 1) + (a % gw - c % gw + gw - 1)

    def half(qq, kk, w):
        attn = torch.einsum("ntqhd,ntkhd->ntqkh", qq / d**0.5, kk).softmax(dim=-2).mean(-1)
        return torch.einsum("ntqk,qkc->ntqc", attn, w[idx])

    ref = torch.zeros(b, t, n, dim)
    ref[:, 1:, 1:] += half(q[:, 1:, 1:], k[:, :-1, 1:], m.w1)
    ref[:, :-1, 1:] += half(q[:, :-1, 1:], k[:, 1:, 1:], m.w2)
    torch.testing.assert_close(out, ref)
    assert torch.equal(out[:, :, 0], torch.zeros(b, t, dim))  # class token untouched
    assert torch.equal(m(q[:, :1], k[:, :1], prefix), torch.zeros(b, 1, n, dim))  # one frame: no neighbours
    with pytest.raises(ValueError, match="patch grid"):
        m(q[:, :, :5], k[:, :, :5], prefix)


@pytest.mark.parametrize("arch", ARCHS)
def test_evl_temporal_modules_make_it_order_sensitive(arch):
    video = clips(2, 4, seed=2)
    shuffled = video[:, torch.tensor([2, 0, 3, 1])]
    plain = _build(EVL(temporal_conv=False, temporal_pos_embed=False, temporal_cross_attention=False), arch).eval()
    _perturb(plain)
    with torch.no_grad():  # a query attending to a set of frame tokens: order does not matter
        torch.testing.assert_close(plain.encode_video(video).embedding, plain.encode_video(shuffled).embedding,
                                   atol=1e-5, rtol=1e-4)
    for flags in ({"temporal_conv": True}, {"temporal_pos_embed": True}, {"temporal_cross_attention": True}):
        off = dict(temporal_conv=False, temporal_pos_embed=False, temporal_cross_attention=False)
        model = _build(EVL(**{**off, **flags}), arch).eval()
        _perturb(model)
        with torch.no_grad():
            a, b = model.encode_video(video).embedding, model.encode_video(shuffled).embedding
        assert not torch.allclose(a, b, atol=1e-5), flags


def test_evl_handles_clips_of_other_lengths():
    model = _build(EVL(), "tiny-siglip", frames=4).eval()
    _perturb(model)
    with torch.no_grad():
        for t in (1, 6):
            assert model.encode_video(clips(2, t)).embedding.shape == (2, 64)


@pytest.mark.parametrize("arch", ARCHS)
def test_r2_state_mixes_frames_and_runs_coarse_to_fine(arch):
    model = _build(R2Tuning(dims=32, heads=4), arch).eval()
    head = model.roles["video_head"]
    _perturb(model, 0.2)
    with torch.no_grad():
        feats = model.backbone_features(clips(2, 4, seed=4))
        changed = VideoFeatures(feats.frames.clone(), layers={i: t.clone() for i, t in feats.layers.items()},
                                num_prefix_tokens=feats.num_prefix_tokens)
        changed.layers[0][:, 0] += torch.randn(changed.layers[0][:, 0].shape)  # only the earliest layer, frame 0
        a, b = head.frame_outputs(feats), head.frame_outputs(changed)
        assert not torch.allclose(a[:, 3], b[:, 3], atol=1e-5)  # temporal attention carries it to frame 3
        # the earliest read layer is the last step of the recurrence: with its pooling and
        # gate closed (scale 0, gate -> keep the previous state), it cannot matter
        head.scale[0] = 0.0
        head.gate[0] = -1e4
        base = head.states(feats)
        torch.testing.assert_close(head.states(changed) - base, torch.zeros_like(base), atol=1e-5, rtol=0)


def test_r2_without_tef_and_with_one_layer():
    model = _build(R2Tuning(layers=1, dims=16, heads=2, use_tef=False, fuse=False), "tiny-siglip")
    head = model.roles["video_head"]
    assert head.gate is None and head.video_map[0].normalized_shape == (64,)
    with torch.no_grad():
        assert model.encode_video(clips(2, 4)).embedding.shape == (2, 64)
    assert model.cache_layers == [1]


def test_r2_parameter_share_at_vit_b32():
    b = load_backbone("random:ViT-B-32")
    model = TransferModel(b, [R2Tuning()], num_frames=8)
    report = model.parameter_report()
    c, d, e = 256, 768, 512

    def mlp_map(i: int) -> int:
        return 2 * i + i * c + c + 2 * c + c * c + c  # LN, Linear, ReLU, LN, Linear

    temporal = 2 * (4 * c * c + 4 * c) + (c * 4 * c + 4 * c + 4 * c * c + c) + 3 * 2 * c
    expected = mlp_map(d + 2) + mlp_map(e) + 3 + 2 * (c * c + c) + 4 + temporal + (c * e + e)
    assert report.trainable == expected == 1_780_491
    # R²-Tuning reports 1.5% of all parameters including its grounding heads; the video head is 1.16%
    assert 1.0 < report.trainable_percent < 1.5
    assert model.cache_layers == [8, 9, 10, 11]
