"""R²-Tuning as published: the query at step i is the text tower's layer-i tokens, coarse to
fine; padding (query tokens, clips) never changes a real output; only the R² block trains;
the parameter count at ViT-B/32."""

from __future__ import annotations

import pytest
import torch

from vidlift.backbones import load_backbone
from vidlift.tasks.grounding.heads import QueryConditionedVideoHead, TextQuery
from vidlift.tasks.grounding.r2_head import R2GroundingHead
from vidlift.transfer import TransferCompositionError, TransferModel, VideoFeatures
from vidlift.transfer.frozen import R2Tuning
from vidlift.transfer.frozen.r2_tuning import sine_positions

from .conftest import clips, tiny_backbone


def _model(**kw) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(tiny_backbone("tiny-clip"), [R2Tuning(dims=32, heads=4, dropout=0.0, droppath=0.0, **kw)],
                         num_frames=4)


def _perturb(model: TransferModel) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in model.trainable_parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))


def _inputs(model: TransferModel, n: int = 5, texts=("a red circle moves", "blue star")):
    head = model.roles["video_head"]
    te = model.backbone.require_text("test")
    ids = model.tokenize(list(texts))
    out = te.features(ids, layers=head.text_layers(te.depth))
    mask = torch.arange(ids.shape[1])[None] <= te.end_index(ids)[:, None]
    text = TextQuery(out.tokens, mask, model.encode_text(ids), dict(out.layers))
    feats = model.backbone_features(clips(len(texts), n, seed=3))
    return head, feats, text


def test_r2_is_a_query_conditioned_video_head_reading_the_last_text_layers():
    model = _model()
    head = model.roles["video_head"]
    assert isinstance(head, QueryConditionedVideoHead) and head.state_dim == 32
    assert head.text_layers(2) == [0, 1] and head.text_layers(12) == [10, 11]
    with pytest.raises(TransferCompositionError, match="text tower has 1"):
        head.text_layers(1)
    assert R2Tuning().needs_layers(12) == [8, 9, 10, 11]  # aligned from the end with text [8..11] of 12


def test_query_at_step_i_is_text_layer_i_coarse_to_fine():
    model = _model().eval()
    _perturb(model)
    head, feats, text = _inputs(model)
    with torch.no_grad():
        extras = {}
        states = head.query_states(feats, text, extras=extras)
        r2 = extras["r2"]
        assert states.shape == (2, 5, 32) and torch.equal(states, r2.states)
        # coarse to fine: step 0 reads the last layer (1), step 1 the earlier one (0)
        torch.testing.assert_close(r2.layer_query[0], head.query_map(text.layers[1]))
        torch.testing.assert_close(r2.layer_query[1], head.query_map(text.layers[0]))
        torch.testing.assert_close(r2.query, r2.layer_query[-1])
        assert len(r2.layer_video) == 2 and r2.layer_video[0].shape == (2, 5, 32)
        # the final token states are not what R² reads; each read layer is
        other = TextQuery(text.tokens + 5.0, text.mask, text.embedding, text.layers)
        torch.testing.assert_close(head.query_states(feats, other), states)
        for i in (0, 1):
            layers = dict(text.layers)
            layers[i] = layers[i] + torch.randn(layers[i].shape)
            changed = head.query_states(feats, TextQuery(text.tokens, text.mask, text.embedding, layers))
            assert (changed - states).abs().max() > 1e-3, i
        # a different sentence gives different states for the same video
        _, _, text2 = _inputs(model, texts=("green square", "blue star"))
        s2 = head.query_states(feats, text2)
        assert (s2[0] - states[0]).abs().max() > 1e-3


def test_padding_tokens_and_padded_clips_do_not_change_real_states():
    model = _model().eval()
    _perturb(model)
    head, feats, text = _inputs(model, n=3)
    with torch.no_grad():
        base = head.query_states(feats, text)
        # padding tokens: garbage beyond each query's end token, masked out
        junk = {i: torch.where(text.mask[..., None], t, torch.randn(t.shape) * 9) for i, t in text.layers.items()}
        torch.testing.assert_close(head.query_states(feats, TextQuery(text.tokens, text.mask, text.embedding, junk)),
                                   base, atol=1e-5, rtol=0)
        # two padded clips of random features after the 3 real ones
        pad = VideoFeatures(torch.cat([feats.frames, torch.randn(2, 2, feats.frames.shape[-1])], 1),
                            layers={i: torch.cat([t, torch.randn(2, 2, *t.shape[2:])], 1)
                                    for i, t in feats.layers.items()},
                            num_prefix_tokens=feats.num_prefix_tokens)
        mask = torch.tensor([[1, 1, 1, 0, 0]] * 2, dtype=torch.bool)
        padded = head.query_states(pad, text, clip_mask=mask)
        torch.testing.assert_close(padded[:, :3], base, atol=1e-5, rtol=0)
        # and the padding is not ignored when the mask says it is real
        assert (head.query_states(pad, text)[:, :3] - base).abs().max() > 1e-4


def test_gradients_reach_exactly_the_r2_block_in_grounding_use():
    model = _model()
    head, feats, text = _inputs(model)
    with torch.no_grad():
        head.scale.fill_(0.5)  # tanh(0) = 0 at init switches the pooling (v_map, q_map) off
    head.query_states(feats, text).square().sum().backward()
    got = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    unused = {"out.weight", "out.bias", "frame_in.weight", "frame_in.bias"}  # video-head-only parts
    want = {f"roles.video_head.{n}" for n, _ in head.named_parameters()} - {f"roles.video_head.{n}" for n in unused}
    assert got == want
    assert not any(n.startswith("backbone.") for n in got)


def test_video_head_use_keeps_frames_as_query():
    model = _model().eval()
    head = model.roles["video_head"]
    assert head.frame_in is not None and head.frame_in.in_features == 32  # tiny: E 32, text width 64
    assert head.query_map[0].normalized_shape == (64,)  # R²'s query map reads the text width
    with torch.no_grad():
        assert model.encode_video(clips(2, 4)).embedding.shape == (2, 32)
    # without a text query (format-1 deltas) the query map reads frames directly
    old = _model(text_query=False).roles["video_head"]
    assert old.frame_in is None and old.query_map[0].normalized_shape == (32,)
    with pytest.raises(TransferCompositionError, match="published text query"):
        old.query_states(*_inputs(_model(text_query=False))[1:])


def test_positions():
    pe = sine_positions(torch.tensor([[True, True, False]]), 4, torch.float32)
    # clip j of n = 2 real clips at (j+1)/2 · 2π: channel 0 sin, channel 1 cos
    torch.testing.assert_close(pe[0, :2, 0], torch.tensor([0.0, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(pe[0, :2, 1], torch.tensor([-1.0, 1.0]), atol=1e-5, rtol=0)


def test_r2_parameter_count_at_vit_b32():
    b = load_backbone("random:ViT-B-32")
    model = TransferModel(b, [R2Tuning()], num_frames=8)
    head = model.roles["video_head"]
    c, d, e = 256, 768, 512

    def count(m):
        return sum(p.numel() for p in m.parameters())

    def mlp_map(i: int) -> int:
        return 2 * i + i * c + c + 2 * c + c * c + c  # LN, Linear, ReLU, LN, Linear

    temporal = 2 * (4 * c * c + 4 * c) + (c * 4 * c + 4 * c + 4 * c * c + c) + 3 * 2 * c
    side = mlp_map(d + 2) + mlp_map(e) + 3 + 2 * (c * c + c) + 4 + temporal
    assert head.frame_in is None and count(head) - count(head.out) == side == 1_648_907
    assert model.parameter_report().trainable == side + c * e + e == 1_780_491
    level = 2 * c * c + c + 2 * c  # Conv1d(k=2, stride 2) + LN
    heads = (1 + 2 + 3) * level + c + (3 * c * c + c + 3 * c + 1) + (3 * c * c + c + 6 * c + 2) + 4
    assert count(R2GroundingHead(c, e, e)) == heads == 1_187_335
    backbone = sum(p.numel() for p in b.model.parameters())
    assert backbone == 151_277_313
    assert round(100 * (side + heads) / backbone, 2) == 1.87  # the paper says about 1.5%
