"""Adapters (AdaptFormer, ST-Adapter, AIM) on the tiny backbones: forward/backward with
gradients exactly where declared, start as the frozen backbone, frame mixing (or not), still
images as 1-frame clips, and the published parameter counts at ViT-B/16."""

from __future__ import annotations

import json

import pytest
import torch

from vidlift.backbones import load_backbone
from vidlift.backbones.contract import BackboneCapabilityError, VisionLanguageBackbone
from vidlift.backbones.layers import BlockContext
from vidlift.transfer import MeanPool, TransferCompositionError, TransferModel
from vidlift.transfer.adapted.adapters import (
    AIM,
    AdaptFormer,
    AdaptMLP,
    ClassTokenMeanPool,
    JointAdapter,
    SpatialAdapter,
    STAdapter,
    TemporalAdapter,
)
from vidlift.transfer.frozen import TemporalTransformer

from .conftest import ARCHS, clips, deeper_tiny, frames, perturb, tiny_backbone

FRAMES = 4
STRATEGIES = {
    "adaptformer": AdaptFormer,
    "st_adapter": STAdapter,
    "st_adapter_mlp": lambda: STAdapter(position="mlp"),
    "st_adapter_both": lambda: STAdapter(position="both"),
    "aim": AIM,
}
# Which parameter names (in TransferModel.named_parameters()) each strategy should train.
EXPECTED_TRAINABLE = {
    "adaptformer": lambda n: ".hooks.sites.mlp_out." in n,
    "st_adapter": lambda n: ".hooks.sites.block_in." in n,
    "st_adapter_mlp": lambda n: ".hooks.sites.attn_out." in n,
    "st_adapter_both": lambda n: ".hooks.sites.block_in." in n or ".hooks.sites.attn_out." in n,
    # the norms above the blocks: ln_post, and SigLIP's MAP-head norm (its design has two)
    "aim": lambda n: ".hooks." in n or n.startswith(("backbone.visual.ln_post.", "backbone.visual.attn_pool.norm.")),
}


def build(key: str, arch: str, num_frames: int = FRAMES) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(arch), [STRATEGIES[key]()], num_frames=num_frames)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_forward_backward_gradients_exactly_where_declared(key, arch):
    model = build(key, arch)
    names = [n for n, _ in model.named_parameters()]
    trainable = {n for n, _ in model.trainable_parameters()}
    assert trainable == {n for n in names if EXPECTED_TRAINABLE[key](n)}
    assert trainable and not any(n.startswith("backbone.text.") for n in trainable)
    perturb(model)
    model.train()
    out = model.encode_video(clips(2, FRAMES))
    assert out.embedding.shape == (2, model.embed_dim)
    weights = torch.randn(out.embedding.shape, generator=torch.Generator().manual_seed(2))
    (out.embedding * weights).sum().backward()
    # On a class-token tower the pooled output is the class token, which an update of the
    # patch tokens after the last attention can no longer reach: an ST-Adapter before the last
    # MLP gets exactly zero gradient there (so does the official 12x384 code, pre-MLP, class-token pooling).
    dead = None
    if key.startswith("st_adapter") and arch == "tiny-clip":
        dead = f"blocks.{model.depth - 1}.hooks.sites.attn_out."
    for n, p in model.named_parameters():
        if n in trainable and dead and dead in n:
            assert p.grad is not None and p.grad.abs().sum() == 0
        elif n in trainable:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{key}: no gradient for declared {n}"
        else:
            assert p.grad is None, f"{key}: undeclared {n} got a gradient"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_zero_init_starts_as_the_frozen_backbone(key, arch):
    video = clips(2, FRAMES, seed=4)
    plain = tiny_backbone(arch).model.eval()
    with torch.no_grad():
        want = plain.forward_video_features(video)
    model = build(key, arch)
    model.eval()
    with torch.no_grad():
        got = model.backbone.forward_video_features(video)
    torch.testing.assert_close(got.pooled, want.pooled, atol=1e-6, rtol=0)
    torch.testing.assert_close(got.tokens, want.tokens, atol=1e-6, rtol=0)
    torch.testing.assert_close(frames(model, video), plain.encode_video(video), atol=1e-6, rtol=0)


def _frame_change(model: TransferModel) -> torch.Tensor:
    """Max |Δ output| per frame when only frame 0 of each clip changes -> (T,)."""
    video = clips(2, FRAMES, seed=5)
    edited = video.clone()
    edited[:, 0] = torch.randn(edited[:, 0].shape, generator=torch.Generator().manual_seed(6))
    return (frames(model, edited) - frames(model, video)).abs().amax(dim=(0, 2))


@pytest.mark.parametrize("arch", ARCHS)
def test_adaptformer_keeps_frames_independent(arch):
    model = build("adaptformer", arch)
    perturb(model)
    delta = _frame_change(model)
    assert delta[0] > 1e-3
    assert delta[1:].max() < 1e-6  # an image adapter: frame 3 never sees frame 0


@pytest.mark.parametrize("arch", ARCHS)
def test_aim_mixes_frames(arch):
    model = build("aim", arch)
    perturb(model)
    assert _frame_change(model)[3] > 1e-3  # temporal attention spans the whole clip


@pytest.mark.parametrize("arch", ARCHS)
def test_st_adapter_temporal_receptive_field_is_one_frame_per_adapter(arch):
    # 2 blocks x one (3,1,1) adapter: frame 0 reaches frames 1 and 2, not 3.
    model = build("st_adapter", arch)
    perturb(model)
    delta = _frame_change(model)
    assert delta[1] > 1e-3 and delta[2] > 1e-3
    assert delta[3] < 1e-6
    # 2 blocks x two adapters ("24x384"-style): 4 frames of reach.
    both = build("st_adapter_both", arch)
    perturb(both)
    assert _frame_change(both)[3] > 1e-3


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", ["st_adapter", "st_adapter_mlp", "aim"])
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
    assert (as_image - plain).abs().max() > 1e-4  # the (T=1) modules did act


def test_aim_temporal_embedding_resizes_to_other_clip_lengths():
    model = build("aim", "tiny-clip", num_frames=8)
    emb = model.backbone.visual.hooks.sites["embed"][0]
    with torch.no_grad():
        emb.embedding.copy_(torch.arange(8.0)[:, None].expand(8, emb.embedding.shape[1]))
    assert torch.equal(emb.table(8), emb.embedding)
    torch.testing.assert_close(emb.table(2)[:, 0], torch.tensor([0.0, 7.0]))  # endpoints kept
    torch.testing.assert_close(emb.table(1)[:, 0], torch.tensor([0.0]))  # still image: first frame
    assert model.encode_video(clips(2, 3)).embedding.shape == (2, model.embed_dim)


def test_parallel_adapters_read_the_right_branch_input():
    """AdaptFormer reads the residual stream before ln_2, AIM's joint adapter ln_2's output."""
    torch.manual_seed(0)
    x, residual, normed = torch.randn(3, 2, 5, 8).unbind(0)
    af, joint = AdaptMLP(8, 4, scale=0.1), JointAdapter(8, 0.25, scale=0.5)
    torch.nn.init.normal_(af.up.weight)  # off their zero init
    torch.nn.init.normal_(joint.fc2.weight)
    ctx = BlockContext("visual", residual=residual, branch_input=normed)
    torch.testing.assert_close(af(x, ctx), x + 0.1 * af.up(torch.relu(af.down(residual))))
    torch.testing.assert_close(joint(x, ctx), x + 0.5 * joint.fc2(torch.nn.functional.gelu(joint.fc1(normed))))


def test_aim_drop_path_on_the_temporal_and_joint_branches_linear_over_blocks():
    assert AIM().drop_path == 0.2  # the K400 config's drop_path_rate
    model = TransferModel(deeper_tiny(4), [AIM()], num_frames=FRAMES)
    sites = [b.hooks.sites for b in model.backbone.visual.blocks]
    temporal = [s["block_in"][0] for s in sites]
    joint = [s["mlp_out"][0] for s in sites]
    assert all(isinstance(m, TemporalAdapter) for m in temporal) and all(isinstance(s["attn_out"][0], SpatialAdapter)
                                                                         for s in sites)
    want = [0.0, 0.2 / 3, 0.4 / 3, 0.2]  # torch.linspace(0, 0.2, depth), as AIM's Transformer
    assert [m.drop_path for m in temporal] == pytest.approx(want)
    assert [m.drop_path for m in joint] == pytest.approx(want)
    assert not hasattr(sites[0]["attn_out"][0], "drop_path")  # the S-Adapter has none in the reference
    # eval mode: the same model with or without drop path
    perturb(model)
    torch.manual_seed(0)
    none = TransferModel(deeper_tiny(4), [AIM(drop_path=0.0)], num_frames=FRAMES)
    none.load_state_dict(model.state_dict())
    video = clips(2, FRAMES, seed=8)
    torch.testing.assert_close(frames(model, video), frames(none, video), atol=0, rtol=0)


def test_aim_joint_adapter_drops_whole_clips_and_rescales():
    torch.manual_seed(0)
    b, t, p = 4, 3, 0.5
    joint = JointAdapter(8, 0.5, scale=0.5, drop_path=p)
    torch.nn.init.normal_(joint.fc2.weight)
    x, normed = torch.randn(2, b * t, 5, 8).unbind(0)
    ctx = BlockContext("visual", num_frames=t, branch_input=normed)
    branch = (0.5 * joint.fc2(torch.nn.functional.gelu(joint.fc1(normed)))).view(b, t, 5, 8)
    torch.testing.assert_close(joint.eval()(x, ctx), x + branch.flatten(0, 1))  # eval: identity drop path
    joint.train()
    torch.manual_seed(4)
    got = (joint(x, ctx) - x).view(b, t, 5, 8)
    torch.manual_seed(4)
    keep = torch.empty(b, 1, 1, 1).bernoulli_(1 - p)
    assert 0 < keep.sum() < b  # both outcomes in this draw
    for i in range(b):
        if keep[i]:
            torch.testing.assert_close(got[i], branch[i] / (1 - p))
        else:
            assert torch.equal(got[i], torch.zeros_like(got[i]))


@pytest.mark.parametrize("arch", ["tiny-clip", "tiny-eva"])
def test_st_adapter_pools_class_tokens_over_time_before_ln_post(arch):
    model = build("st_adapter", arch)
    head = model.roles["video_head"]
    assert isinstance(head, ClassTokenMeanPool) and model.cache_layers == [model.depth - 1]
    perturb(model)
    model.eval()
    video = clips(2, FRAMES, seed=9)
    with torch.no_grad():
        out = model.encode_video(video)
        bb = model.backbone
        last = bb.forward_video_features(video, layers=[model.depth - 1]).layers[model.depth - 1]  # (B, T, N, D)
        ln = bb.visual.ln_post
        pre = torch.nn.functional.layer_norm(last[:, :, 0].mean(1), ln.normalized_shape, ln.weight, ln.bias, ln.eps)
        proj = bb.visual_proj
        emb = pre @ proj.weight.T + (proj.bias if getattr(proj, "bias", None) is not None else 0)
    torch.testing.assert_close(out.pre_projection, pre)
    torch.testing.assert_close(out.embedding, emb)
    # not meanP: ln_post is not linear, so mean-then-norm differs from the mean of normed frames
    assert (out.embedding - out.features.frames.mean(1)).abs().max() > 1e-4
    frames_model = TransferModel(tiny_backbone(arch), [STAdapter(pooling="frames")], num_frames=FRAMES)
    assert isinstance(frames_model.roles["video_head"], MeanPool) and frames_model.cache_layers == []


def test_st_adapter_pooling_without_a_class_token_or_a_final_norm():
    siglip = build("st_adapter", "tiny-siglip")  # MAP head, no class token: meanP stays
    assert isinstance(siglip.roles["video_head"], MeanPool)
    def without_final_norm():
        b = tiny_backbone("tiny-clip")
        b.model.final_norm = VisionLanguageBackbone.final_norm.__get__(b.model)  # a family without one
        return b

    with pytest.raises(BackboneCapabilityError, match="st_adapter needs its image tower's final norm.*clip"):
        TransferModel(without_final_norm(), [STAdapter()], num_frames=FRAMES)
    assert TransferModel(without_final_norm(), [STAdapter(pooling="frames")], num_frames=FRAMES)  # nothing asked
    with pytest.raises(TransferCompositionError, match="both provide the video head"):
        TransferModel(tiny_backbone("tiny-clip"), [STAdapter(), TemporalTransformer()], num_frames=FRAMES)
    assert TransferModel(tiny_backbone("tiny-clip"), [STAdapter(pooling="frames"), TemporalTransformer()],
                         num_frames=FRAMES)
    with pytest.raises(ValueError, match="pooling"):
        STAdapter(pooling="mean")


def test_st_adapter_options_and_errors():
    model = build("st_adapter", "tiny-clip")
    with pytest.raises(ValueError, match="square patch grid"):
        model.encode_video(torch.randn(1, 2, 3, 32, 24))  # 4x3 patches
    torch.manual_seed(0)
    last = TransferModel(tiny_backbone("tiny-clip"), [STAdapter(blocks=1)], num_frames=FRAMES)
    assert [len(b.hooks) for b in last.backbone.visual.blocks] == [0, 1]
    with pytest.raises(TransferCompositionError, match="blocks=3"):
        TransferModel(tiny_backbone("tiny-clip"), [STAdapter(blocks=3)])
    with pytest.raises(ValueError, match="position"):
        TransferModel(tiny_backbone("tiny-clip"), [STAdapter(position="ffn")])


@pytest.mark.parametrize("strategy", [AdaptFormer(bottleneck=16, scale=0.2), STAdapter(kernel=(3, 3, 3), blocks=1),
                                      AIM(mlp_ratio=0.5, train_ln_post=False, drop_path=0.1)])
def test_rebuilds_from_json_hyperparameters(strategy):
    hp = json.loads(json.dumps(strategy.hyperparameters()))
    hp = {k: tuple(v) if isinstance(v, list) else v for k, v in hp.items()}  # as delta loading does
    assert type(strategy)(**hp) == strategy


# -- published parameter counts at ViT-B/16 ------------------------------------------------------
def test_st_adapter_12x384_on_vit_b16_is_7_1m():
    model = TransferModel(load_backbone("random:ViT-B-16"), [STAdapter()], num_frames=8)
    trainable = model.parameter_report().trainable
    # per adapter: fc1 768*384+384, depth-wise conv 384*3+384, fc2 384*768+768 = 592,512
    assert trainable == 12 * (768 * 384 + 384 + 384 * 3 + 384 + 384 * 768 + 768) == 7_110_144
    assert abs(trainable - 7.1e6) / 7.1e6 < 0.01  # paper / DESIGN §7: "12x384 ~ 7.1M"


def test_aim_on_vit_b16_8_frames_is_11m_with_a_k400_head():
    """AIM's paper lists 11M tunable parameters for ViT-B/16 on K400. The reference code
    (vit_clip.py) keeps tunable whatever is named temporal_embedding, ln_post, *Adapter* or
    cls_head, and the K400 head is an I3DHead: a 400-way linear layer on the 768-d class token.
    Adapters alone are 12 blocks x 3 adapters x (768*192+192 + 192*768+768) = 10,651,392;
    + temporal embedding 8*768 = 6,144; + ln_post 2*768 = 1,536 -> 10,659,072 (what this strategy
    trains); + head 768*400+400 = 307,600 -> 10,966,672 = 10.97M, within 1% of 11M (without the
    head it would be 3% off, so the paper's count includes it)."""
    model = TransferModel(load_backbone("random:ViT-B-16"), [AIM()], num_frames=8)
    report = model.parameter_report()
    adapters = sum(i.parameters for i in report.insertions if "Adapter" in i.what or "adapter" in i.what)
    assert adapters == 12 * 3 * (768 * 192 + 192 + 192 * 768 + 768) == 10_651_392
    assert report.trainable == 10_651_392 + 8 * 768 + 2 * 768 == 10_659_072
    k400_head = torch.nn.Linear(768, 400)
    tunable = report.trainable + sum(p.numel() for p in k400_head.parameters())
    assert tunable == 10_966_672
    assert abs(tunable - 11e6) / 11e6 < 0.01
