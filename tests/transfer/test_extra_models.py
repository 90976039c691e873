"""Fine-tuning with extra models (X-CLIP, divided space-time attention) on the tiny backbones:
forward/backward with gradients exactly where declared, message tokens that do not leak,
frame mixing, still images as 1-frame clips, TimeSformer-style initialisation."""

from __future__ import annotations

import json

import pytest
import torch

from vidlift.backbones.layers import BlockContext
from vidlift.transfer import MeanPool, TransferCompositionError, TransferModel, VideoFeatures
from vidlift.transfer.adapted.extra_models import (
    XCLIP,
    CrossFrameMessage,
    DividedSpaceTime,
    DividedTemporalAttention,
    MultiFrameIntegration,
)

from .conftest import ARCHS, clips, deeper_tiny, frames, perturb, tiny_backbone

FRAMES = 4


def _visual_backbone(n: str) -> bool:
    """An image-tower (or visual projection) parameter of the backbone, not an inserted hook."""
    return n.startswith(("backbone.visual.", "backbone.visual_proj.")) and ".hooks." not in n


STRATEGIES = {
    "xclip": (XCLIP, lambda n: ".hooks." in n or n.startswith("roles.video_head.") or _visual_backbone(n)),
    "xclip_frozen": (lambda: XCLIP(train_backbone=False),
                     lambda n: ".hooks." in n or n.startswith("roles.video_head.")),
    "divided_st": (DividedSpaceTime, lambda n: ".hooks." in n),
    "divided_st_trained_last": (
        lambda: DividedSpaceTime(blocks=1, train_blocks=True),
        lambda n: ".hooks." in n or (n.startswith("backbone.visual.transformer.blocks.1.") and ".hooks." not in n)),
}


def build(key: str, arch: str, num_frames: int = FRAMES) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(arch), [STRATEGIES[key][0]()], num_frames=num_frames)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_forward_backward_gradients_exactly_where_declared(key, arch):
    model = build(key, arch)
    names = [n for n, _ in model.named_parameters()]
    trainable = {n for n, _ in model.trainable_parameters()}
    assert trainable == {n for n in names if STRATEGIES[key][1](n)}
    assert not any(n.startswith("backbone.text.") for n in trainable)
    report = model.parameter_report()
    assert sum(i.parameters for i in report.insertions) == report.trainable  # declared once each
    perturb(model)
    model.train()
    out = model.encode_video(clips(2, FRAMES))
    assert out.embedding.shape == (2, model.embed_dim)
    weights = torch.randn(out.embedding.shape, generator=torch.Generator().manual_seed(2))
    (out.embedding * weights).sum().backward()
    for n, p in model.named_parameters():
        if n in trainable:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{key}: no gradient for declared {n}"
        else:
            assert p.grad is None, f"{key}: undeclared {n} got a gradient"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_changing_frame_0_changes_frame_3(key, arch):
    model = build(key, arch)
    perturb(model)
    video = clips(2, FRAMES, seed=5)
    edited = video.clone()
    edited[:, 0] = torch.randn(edited[:, 0].shape, generator=torch.Generator().manual_seed(6))
    # Independent frames would give exactly 0 (see the AdaptFormer test); mixing gives far more than 1e-5.
    assert (frames(model, edited) - frames(model, video))[:, 3].abs().max() > 1e-5


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", ["divided_st", "divided_st_trained_last"])
def test_divided_st_starts_as_the_image_model(key, arch):
    video = clips(2, FRAMES, seed=4)
    plain = tiny_backbone(arch).model.eval()
    model = build(key, arch)
    model.eval()
    with torch.no_grad():
        want, got = plain.forward_video_features(video), model.backbone.forward_video_features(video)
    torch.testing.assert_close(got.tokens, want.tokens, atol=1e-6, rtol=0)
    torch.testing.assert_close(frames(model, video), plain.encode_video(video), atol=1e-6, rtol=0)


def test_divided_st_temporal_attention_is_a_copy_of_the_host_block():
    model = build("divided_st", "tiny-clip")
    for block in model.backbone.visual.blocks:
        temporal = block.hooks.sites["block_in"][0]
        for (n, a), (_, b) in zip(block.attn.named_parameters(), temporal.attn.named_parameters()):
            assert torch.equal(a, b) and a.data_ptr() != b.data_ptr(), n  # same values, own storage
        assert torch.equal(temporal.norm.weight, block.ln_1.weight)
        assert temporal.fc.weight.abs().sum() == 0 and temporal.fc.bias.abs().sum() == 0
    # Only the last k blocks get one; a k the tower does not have is refused.
    torch.manual_seed(0)
    last = TransferModel(tiny_backbone("tiny-clip"), [DividedSpaceTime(blocks=1, time_embed=False)])
    assert [len(b.hooks) for b in last.backbone.visual.blocks] == [0, 1]
    assert len(last.backbone.visual.hooks) == 0
    with pytest.raises(TransferCompositionError, match="blocks=5"):
        TransferModel(tiny_backbone("tiny-clip"), [DividedSpaceTime(blocks=5)])


def test_divided_st_drop_path_follows_timesformer():
    assert DividedSpaceTime().drop_path == 0.1  # TimeSformer's drop_path_rate
    torch.manual_seed(0)
    model = TransferModel(deeper_tiny(4), [DividedSpaceTime(blocks=2)], num_frames=FRAMES)
    rates = [b.hooks.sites["block_in"][0].drop_path for b in model.backbone.visual.blocks[2:]]
    assert rates == pytest.approx([0.2 / 3, 0.1])  # the last two of linspace(0, 0.1, 4)
    perturb(model)
    temporal = model.backbone.visual.blocks[3].hooks.sites["block_in"][0]
    assert isinstance(temporal, DividedTemporalAttention)
    temporal.drop_path = 0.5
    b, prefix = 4, model.backbone.visual.num_prefix_tokens
    x = torch.randn(b * FRAMES, 16 + prefix, model.width)
    ctx = BlockContext("visual", num_frames=FRAMES, num_prefix_tokens=prefix)
    with torch.no_grad():
        kept = temporal.eval()(x, ctx)[:, prefix:] - x[:, prefix:]  # eval: no drop path
        attn = temporal.attn(temporal.norm(x[:, prefix:].view(b, FRAMES, 16, -1).transpose(1, 2).flatten(0, 1)))
        temporal.train()
        torch.manual_seed(5)
        got = (temporal(x, ctx)[:, prefix:] - x[:, prefix:]).view(b, FRAMES, 16, -1)
    torch.manual_seed(5)
    keep = torch.empty(b, 1, 1, 1).bernoulli_(0.5)
    assert 0 < keep.sum() < b
    fc = temporal.fc
    scaled = fc(attn / 0.5).view(b, 16, FRAMES, -1).transpose(1, 2)  # dropped before fc, as TimeSformer
    for i in range(b):
        if keep[i]:
            torch.testing.assert_close(got[i], scaled[i].detach())
        else:  # a dropped clip still gets temporal_fc's bias
            torch.testing.assert_close(got[i], fc.bias.detach().expand_as(got[i]))
    with torch.no_grad():
        torch.testing.assert_close(kept.view(b, FRAMES, 16, -1), fc(attn).view(b, 16, FRAMES, -1).transpose(1, 2))


@pytest.mark.parametrize("arch", ARCHS)
def test_divided_st_leaves_prefix_tokens_out_of_temporal_attention(arch):
    model = build("divided_st", arch)
    perturb(model)
    block = model.backbone.visual.blocks[0]
    temporal = block.hooks.sites["block_in"][0]
    prefix = model.backbone.visual.num_prefix_tokens
    x = torch.randn(2 * FRAMES, 16 + prefix, model.width)
    y = temporal(x, BlockContext("visual", num_frames=FRAMES, num_prefix_tokens=prefix))
    assert y.shape == x.shape
    assert torch.equal(y[:, :prefix], x[:, :prefix])
    assert (y[:, prefix:] - x[:, prefix:]).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ARCHS)
def test_xclip_message_tokens_do_not_leak(arch):
    video = clips(2, FRAMES, seed=8)
    plain = tiny_backbone(arch).model.eval()
    model = build("xclip", arch)
    perturb(model)
    model.eval()
    with torch.no_grad():
        want = plain.forward_video_features(video, layers=[0, 1])
        got = model.backbone.forward_video_features(video, layers=[0, 1])
        images = model.backbone.visual(video[:, 0])
    n = want.tokens.shape[2]
    assert got.tokens.shape == want.tokens.shape  # (B, T, N, D): N unchanged
    assert all(got.layers[i].shape == want.layers[i].shape for i in (0, 1))  # removed inside each block
    assert got.num_prefix_tokens == want.num_prefix_tokens == plain.visual.num_prefix_tokens
    assert images.tokens.shape[1] == n and images.num_prefix_tokens == want.num_prefix_tokens
    assert (got.tokens - want.tokens).abs().max() > 1e-3  # the messages did change the tokens


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", ["xclip", "divided_st"])
def test_still_images_are_one_frame_clips(key, arch):
    model = build(key, arch)
    perturb(model)
    bb = model.backbone.eval()
    images = clips(2, 1, seed=7)[:, 0]
    with torch.no_grad():
        as_image = bb.encode_image(images)  # ctx.num_frames is None
        as_clip = bb.encode_video(images[:, None])[:, 0]
        plain = tiny_backbone(arch).model.eval().encode_image(images)
    torch.testing.assert_close(as_image, as_clip, atol=1e-5, rtol=0)
    # The modules act on one frame too (a message token of one frame; a frame attending to itself).
    assert (as_image - plain).abs().max() > 1e-4


def test_xclip_gradient_checkpointing_gives_the_same_result():
    """Checkpointing re-runs each block later; the message token bookkeeping in ctx must survive."""
    model = build("xclip", "tiny-clip")
    perturb(model)
    model.train()
    video = clips(2, FRAMES, seed=9)
    params = [p for _, p in model.trainable_parameters()]
    out = model.encode_video(video).embedding
    grads = torch.autograd.grad(out.sum(), params)
    model.backbone.set_grad_checkpointing(True)
    out_ckpt = model.encode_video(video).embedding
    grads_ckpt = torch.autograd.grad(out_ckpt.sum(), params)
    torch.testing.assert_close(out_ckpt, out)
    for a, b in zip(grads, grads_ckpt):
        torch.testing.assert_close(a, b)


def test_xclip_video_head_is_the_multi_frame_integration_transformer():
    model = build("xclip", "tiny-clip")
    head = model.roles["video_head"]
    assert isinstance(head, MultiFrameIntegration) and len(head.layers.blocks) == 1
    feats = VideoFeatures(torch.randn(2, FRAMES, model.embed_dim, generator=torch.Generator().manual_seed(3)))
    out = head(feats)
    assert out.shape == (2, model.embed_dim)
    reversed_ = VideoFeatures(feats.frames.flip(1))
    # Unlike the mean (order-blind), the MIT's position embedding makes frame order matter.
    assert torch.allclose(MeanPool()(reversed_), MeanPool()(feats), atol=1e-6)
    assert (head(reversed_) - out).abs().max() > 1e-4
    # Structure, as mit.py: mean_T(layers(frames + pos) + frames); with the layers' branches at zero
    # that is 2 * mean(frames) + mean(pos).
    with torch.no_grad():
        for layer in head.layers.blocks:
            layer.attn.out_proj.weight.zero_(), layer.attn.out_proj.bias.zero_()
            layer.mlp.fc2.weight.zero_(), layer.mlp.fc2.bias.zero_()
    torch.testing.assert_close(head(feats), 2 * MeanPool()(feats) + head.position.embedding.mean(0))
    # Other clip lengths: the position table is resized.
    assert head(VideoFeatures(torch.randn(2, 7, model.embed_dim))).shape == (2, model.embed_dim)


def _uniform_bound_and_std(w: torch.Tensor, bound: float) -> None:
    """w ~ U(-bound, bound): inside the bound, reaching near it, std bound / sqrt(3) (within 3%)."""
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    assert abs(w.std().item() - bound / 3**0.5) < 0.03 * bound / 3**0.5


def test_xclip_attention_inits_follow_nn_multihead_attention():
    d = 512
    torch.manual_seed(0)
    msg = CrossFrameMessage(d, 8, class_token=True).message_attn
    packed = (6 / (d + 3 * d)) ** 0.5  # Xavier over the packed (3D, D) in-projection, as nn.MultiheadAttention
    for proj in (msg.q_proj, msg.k_proj, msg.v_proj):
        _uniform_bound_and_std(proj.weight, packed)
        assert torch.equal(proj.bias, torch.zeros(d))
    _uniform_bound_and_std(msg.out_proj.weight, d**-0.5)  # nn.Linear's default, kept by nn.MultiheadAttention
    assert torch.equal(msg.out_proj.bias, torch.zeros(d))
    mit = MultiFrameIntegration(8, d)
    attn, mlp = mit.layers.blocks[0].attn, mit.layers.blocks[0].mlp
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        _uniform_bound_and_std(proj.weight, packed)
        assert torch.equal(proj.bias, torch.zeros(d))
    for lin in [attn.out_proj] + [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]:
        assert abs(lin.weight.std().item() - 0.02) < 0.001  # trunc normal(0.02) (cut at ±2, i.e. not at all)
        assert torch.equal(lin.bias, torch.zeros_like(lin.bias))


def test_xclip_train_backbone_declares_the_whole_image_tower():
    trained = build("xclip", "tiny-clip")
    visual = {n for n, _ in trained.backbone.named_parameters() if n.startswith(("visual.", "visual_proj."))
              and ".hooks." not in n}
    declared = {n for n, p in trained.backbone.named_parameters() if p.requires_grad and ".hooks." not in n}
    assert declared == visual and "visual_proj.weight" in visual
    frozen = build("xclip_frozen", "tiny-clip")
    assert not any(p.requires_grad for n, p in frozen.backbone.named_parameters() if ".hooks." not in n)
    assert frozen._backbone_trains  # the hooks inside the tower train, so the tower runs with autograd


@pytest.mark.parametrize("strategy", [XCLIP(mit_layers=2, train_backbone=False),
                                      DividedSpaceTime(blocks=1, train_blocks=True, time_embed=False)])
def test_rebuilds_from_json_hyperparameters(strategy):
    hp = json.loads(json.dumps(strategy.hyperparameters()))
    assert type(strategy)(**hp) == strategy
