"""Post-network tuning heads (mean_pool, temporal_transformer, temporal_conv): shapes, which
parameters train, how they start, how they mix frames, and that they compose with strategies
that train the backbone (LoRA + temporal transformer)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

from vidlift.backbones import load_backbone
from vidlift.transfer import Strategy, TransferModel, VideoFeatures
from vidlift.transfer.frozen import MeanPoolHead, TemporalConv, TemporalTransformer

from .conftest import ARCHS, clips, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]
HEADS = (MeanPoolHead, TemporalTransformer, TemporalConv)


@dataclass
class _TrainsLnPost(Strategy):
    """A stand-in for a strategy that trains inside the backbone (LoRA, partial tuning)."""

    name: ClassVar[str] = "test_trains_ln_post"
    family: ClassVar[str] = "partial tuning"
    paper: ClassVar[str] = "test"
    trains_backbone: ClassVar[bool] = True

    def apply(self, model):
        model.train_backbone(["visual.ln_post.weight", "visual.ln_post.bias"], "ln_post")


def _build(strategies, arch="tiny-clip", frames=4) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(arch), strategies, num_frames=frames)


def _perturb(model: TransferModel, scale: float = 0.05) -> None:
    """Move zero-initialised tensors off zero so that every one gets a gradient."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in model.trainable_parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


def _frames_features(model: TransferModel, video: torch.Tensor) -> VideoFeatures:
    with torch.no_grad():
        return model.backbone_features(video)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("cls", HEADS, ids=lambda c: c.name)
def test_forward_backward_trains_only_the_head(cls, arch):
    model = _build([cls()], arch)
    _perturb(model)
    model.train()
    out = model.encode_video(clips(2, 4))
    assert out.embedding.shape == (2, model.embed_dim)
    assert out.features.layers == {} and not out.features.frames.requires_grad  # backbone ran without autograd
    loss = F.cross_entropy(model.logits(out, model.encode_classes(CLASSES)), torch.tensor([0, 2]))
    head_params = {id(p) for p in model.roles["video_head"].parameters()}
    trainable = {id(p) for _, p in model.trainable_parameters()}
    assert trainable == head_params
    if cls is MeanPoolHead:
        assert not trainable and not loss.requires_grad
        return
    loss.backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, n
        else:
            assert p.grad is None, n
    assert model.trains_from_cache


def test_mean_pool_is_the_mean_of_the_frozen_frame_embeddings():
    model = _build([MeanPoolHead()])
    video = clips(2, 4)
    with torch.no_grad():
        emb = model.encode_video(video).embedding
        frames = model.backbone.encode_video(video)
    torch.testing.assert_close(emb, frames.mean(1))
    assert model.parameter_report().trainable == 0


def test_normalize_frames_follows_clip4clip_meanp_and_seqtransf():
    assert MeanPoolHead().normalize_frames is False and TemporalTransformer().normalize_frames is False
    video = clips(2, 4, seed=3)
    model = _build([MeanPoolHead(normalize_frames=True)])
    with torch.no_grad():
        out = model.encode_video(video)
        frames = model.backbone.encode_video(video)
    unit = frames / frames.norm(dim=-1, keepdim=True)  # CLIP4Clip: visual_output / visual_output.norm(...)
    torch.testing.assert_close(out.embedding, unit.mean(1))
    assert (out.embedding - frames.mean(1)).abs().max() > 1e-3  # not the plain mean
    torch.testing.assert_close(out.pre_projection, out.features.pooled.mean(1))  # the pre-projection mean, as meanP
    plain, normed = _build([TemporalTransformer()]), _build([TemporalTransformer(normalize_frames=True)])
    normed.load_state_dict(plain.state_dict())
    _perturb(plain)
    normed.load_state_dict(plain.state_dict())
    feats = _frames_features(plain, video)
    with torch.no_grad():
        h = plain.roles["video_head"].eval().frame_outputs(feats)  # transformer on the raw frames + residual
        torch.testing.assert_close(normed.roles["video_head"].eval()(feats), (h / h.norm(dim=-1, keepdim=True)).mean(1))
        torch.testing.assert_close(plain.roles["video_head"](feats), h.mean(1))
    assert "L2-normalised" in normed.parameter_report().insertions[0].what


def test_temporal_conv_starts_as_mean_pool_and_mixes_neighbouring_frames():
    model = _build([TemporalConv()], "tiny-siglip")
    feats = _frames_features(model, clips(2, 4))
    head = model.roles["video_head"].eval()
    with torch.no_grad():
        torch.testing.assert_close(head(feats), feats.frames.mean(1))  # conv2 zero-init
    _perturb(model, 0.2)
    changed = VideoFeatures(feats.frames.clone())
    changed.frames[:, 0] += torch.randn(changed.frames[:, 0].shape)  # not a constant shift: the LayerNorm removes those
    with torch.no_grad():
        a, b = head.frame_outputs(feats), head.frame_outputs(changed)
    # two k=3 convolutions see 5 frames: frame 0 reaches frames 1 and 2, not frame 3
    assert not torch.allclose(a[:, 2], b[:, 2])
    torch.testing.assert_close(a[:, 3], b[:, 3])
    with torch.no_grad():  # once trained it is no longer meanP
        assert not torch.allclose(head(feats), feats.frames.mean(1), atol=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_temporal_transformer_mixes_every_frame_and_knows_the_order(arch):
    model = _build([TemporalTransformer()], arch)
    head = model.roles["video_head"].eval()
    feats = _frames_features(model, clips(2, 4))
    changed = VideoFeatures(feats.frames.clone())
    changed.frames[:, 0] += torch.randn(changed.frames[:, 0].shape)
    with torch.no_grad():
        out, out_changed = head.frame_outputs(feats), head.frame_outputs(changed)
        assert not torch.allclose(out[:, 3], out_changed[:, 3])  # attention reaches every frame
        perm = torch.tensor([3, 1, 0, 2])
        shuffled = VideoFeatures(feats.frames[:, perm])
        assert not torch.allclose(head(feats), head(shuffled), atol=1e-5)  # frame positions matter
        head.frame_position_embeddings.zero_()  # without positions: permutation-equivariant, so the mean is invariant
        torch.testing.assert_close(head(feats), head(shuffled), atol=1e-5, rtol=1e-5)


def test_temporal_transformer_defaults_and_initialisation_from_the_text_tower():
    # tiny-siglip: text width 64 = E, so CLIP4Clip's trick copies the text tower in.
    model = _build([TemporalTransformer(layers=2)], "tiny-siglip")
    head, text = model.roles["video_head"], model.backbone.text
    assert head.frame_position_embeddings.shape == (text.cfg.context_length, 64)
    torch.testing.assert_close(head.frame_position_embeddings, text.pos_embed)
    for mine, theirs in zip(head.transformer.blocks, text.blocks):
        for (n, a), (_, b) in zip(mine.state_dict().items(), theirs.state_dict().items()):
            assert torch.equal(a, b), n
        assert mine.attn.heads == 1  # E // 64
    assert head.frame_position_embeddings.data_ptr() != text.pos_embed.data_ptr()  # a copy, not shared
    # tiny-clip: text width 64 != E 32 -> normal(0.02) init, no copy
    model = _build([TemporalTransformer(layers=1, heads=2, max_frames=8)], "tiny-clip")
    head = model.roles["video_head"]
    assert head.frame_position_embeddings.shape == (8, 32) and head.transformer.blocks[0].attn.heads == 2
    with pytest.raises(ValueError, match="frame positions"):
        head(VideoFeatures(torch.randn(1, 9, 32)))
    assert TemporalTransformer(**TemporalTransformer(layers=2).hyperparameters()) == TemporalTransformer(layers=2)


def test_temporal_transformer_vit_b32_is_clip4clip_seqtransf():
    b = load_backbone("random:ViT-B-32")
    model = TransferModel(b, [TemporalTransformer()], num_frames=12)
    head = model.roles["video_head"]
    # 4 text-sized blocks (512 wide, 8 heads) + a 77 x 512 position table copied from CLIP's text tower
    per_block = 4 * (512 * 512 + 512) + 2 * 2 * 512 + (512 * 2048 + 2048) + (2048 * 512 + 512)
    assert model.parameter_report().trainable == 4 * per_block + 77 * 512 == 12_648_960
    assert head.transformer.blocks[0].attn.heads == 8
    assert torch.equal(head.transformer.blocks[3].mlp.fc2.weight, b.model.text.blocks[3].mlp.fc2.weight)


@pytest.mark.parametrize("cls", (TemporalTransformer, TemporalConv), ids=lambda c: c.name)
def test_post_network_heads_compose_with_backbone_training(cls):
    model = _build([_TrainsLnPost(), cls()], "tiny-clip")
    _perturb(model)
    model.train()
    out = model.encode_video(clips(2, 4))
    assert out.features.frames.requires_grad  # the backbone now runs with autograd
    out.embedding.pow(2).sum().backward()
    assert model.backbone.visual.ln_post.weight.grad is not None
    assert all(p.grad is not None for p in model.roles["video_head"].parameters())
    assert model.backbone.visual.blocks[0].attn.q_proj.weight.grad is None
    assert not model.trains_from_cache


def test_one_video_head_only():
    from vidlift.transfer import TransferCompositionError

    with pytest.raises(TransferCompositionError, match="video head"):
        _build([TemporalConv(), TemporalTransformer()])


def test_heads_accept_a_single_frame():
    for cls in HEADS:
        model = _build([cls()], "tiny-siglip", frames=1)
        with torch.no_grad():
            emb = model.encode_video(clips(2, 1)).embedding
        assert emb.shape == (2, 64) and torch.isfinite(emb).all()


def test_frames_in_another_dtype_are_cast():
    model = _build([replace(TemporalConv(), hidden=8)])
    feats = VideoFeatures(torch.randn(2, 4, 32, dtype=torch.float64))
    assert model.roles["video_head"](feats).dtype == torch.float32


@pytest.mark.parametrize("order", ["lora_first", "head_first"])
def test_temporal_transformer_copies_base_weights_from_a_lora_text_tower(order):
    # tiny-siglip: text width 64 = E, so init_from_text copies the text blocks; with LoRA on
    # the text tower PEFT has renamed their Linears (q_proj.base_layer.weight, lora_A, lora_B).
    from vidlift.transfer.adapted import Lora

    strategies = [Lora(towers=("visual", "text")), TemporalTransformer(layers=2)]
    if order == "head_first":
        strategies.reverse()
    model = _build(strategies, "tiny-siglip")
    head, text = model.roles["video_head"], model.backbone.text
    what = next(i.what for i in model.insertions if i.strategy == "temporal_transformer")
    assert "initialised from the text tower" in what
    assert not any("lora" in n for n, _ in head.named_parameters())  # LoRA tensors never copied
    for mine, theirs in zip(head.transformer.blocks, text.blocks):
        assert hasattr(theirs.attn.q_proj, "base_layer")  # the text tower does carry LoRA
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            src = getattr(theirs.attn, proj)
            src = getattr(src, "base_layer", src)
            assert torch.equal(getattr(mine.attn, proj).weight, src.weight), proj
            assert torch.equal(getattr(mine.attn, proj).bias, src.bias), proj
        for a, b in ((mine.ln_1, theirs.ln_1), (mine.ln_2, theirs.ln_2), (mine.mlp.fc1, theirs.mlp.fc1),
                     (mine.mlp.fc2, theirs.mlp.fc2)):
            assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
        assert mine.attn.q_proj.weight.data_ptr() != theirs.attn.q_proj.base_layer.weight.data_ptr()
    trainable = {n for n, _ in model.trainable_parameters()}
    assert any(n.startswith("backbone.text.") and ".lora_A." in n for n in trainable)
    _perturb(model)
    model.train()
    out = model.encode_video(clips(2, 4))
    loss = F.cross_entropy(model.logits(out, model.encode_classes(CLASSES)), torch.tensor([0, 2]))
    loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)
