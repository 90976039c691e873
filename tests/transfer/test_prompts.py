"""Prompt tuning: CoOp's context vectors, VPT's visual tokens, X-CLIP's video-specific
prompt generator — what trains, token ids and shapes, and each method's defining behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import nn

from vidlift.backbones import load_backbone
from vidlift.transfer import Strategy, TransferCompositionError, TransferModel
from vidlift.transfer.adapted.prompts import CoOp, VideoSpecificPrompt, Vpt, XClipPrompt, has_start_token, shift_right

from .conftest import ARCHS, clips, tiny_backbone

NAMES = ["dog", "cat run", "playing the violin"]


def _step(model: TransferModel, names=NAMES) -> set[str]:
    out = model.encode_video(clips())
    model.logits(out, model.encode_classes(names)).logsumexp(-1).sum().backward()
    return {n for n, p in model.named_parameters() if p.grad is not None}


# -- CoOp --------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_coop_gradients_reach_only_the_context(arch):
    model = TransferModel(tiny_backbone(arch), [CoOp(n_ctx=8)], num_frames=4)  # a 16-token context
    assert model.roles["class_prompt"].ctx.shape == (8, 64)
    assert _step(model) == {"roles.class_prompt.ctx"} == {n for n, _ in model.trainable_parameters()}
    assert model.trains_from_cache  # nothing in the backbone trains: image features stay cacheable


@pytest.mark.parametrize("arch", ARCHS)
def test_coop_context_changes_text_but_not_captions(arch):
    model = TransferModel(tiny_backbone(arch), [CoOp(n_ctx=4)], num_frames=4)
    caption = model.tokenize(["a dog runs"])
    with torch.no_grad():
        before, cap = model.encode_classes(NAMES), model.encode_text(caption)
        model.roles["class_prompt"].ctx.add_(torch.randn_like(model.roles["class_prompt"].ctx))
        after = model.encode_classes(NAMES)
        assert (before - after).abs().amax(-1).min() > 1e-4  # every class moved
        torch.testing.assert_close(model.encode_text(caption), cap)


def test_token_ids_tiny_clip_and_siglip():
    clip = TransferModel(tiny_backbone("tiny-clip"), [CoOp(n_ctx=3)], num_frames=4)
    prompt = clip.roles["class_prompt"]
    assert prompt.start is None  # the tokenizer is read on first use
    plain = clip.tokenize(["dog."])[0]  # [start, dog., end, pad...]
    ids = prompt.token_ids(clip, ["dog."[:-1]])[0]
    x = prompt.placeholder
    assert ids[:6].tolist() == [plain[0].item(), x, x, x, plain[1].item(), 511]
    assert clip.backbone.text.pool_index(ids[None]).item() == 5 and ids.shape[0] == 16
    siglip = TransferModel(tiny_backbone("tiny-siglip"), [CoOp(n_ctx=3)], num_frames=4)
    prompt = siglip.roles["class_prompt"]
    ids = prompt.token_ids(siglip, ["dog"])[0]
    assert prompt.start == 0  # no start token: context vectors come first
    assert ids.shape[0] == 16 and ids[:3].tolist() == [prompt.placeholder] * 3 and ids[4].item() == 1


def test_coop_context_must_fit():
    with pytest.raises(TransferCompositionError, match="16-token text context"):
        TransferModel(tiny_backbone("tiny-clip"), [CoOp()], num_frames=4)
    # 14 fits without a start token (SigLIP), not after CLIP's start token
    TransferModel(tiny_backbone("tiny-siglip"), [CoOp(n_ctx=14)], num_frames=4).encode_classes(["dog"])
    with pytest.raises(ValueError, match="no room"):
        TransferModel(tiny_backbone("tiny-clip"), [CoOp(n_ctx=14)], num_frames=4).encode_classes(["dog"])


def test_shift_right_keeps_the_end_token_when_truncating():
    text = tiny_backbone("tiny-clip").model.text_encoder  # argmax pooling: the end token has the top id 511
    assert text.pad_token_id == 0
    ids = torch.tensor([[9, 5, 6, 7, 8, 511, 0, 0], [9, 5, 511, 0, 0, 0, 0, 0]])
    out = shift_right(text, ids, start=1, n_ctx=4, placeholder=3)
    assert out.tolist() == [[9, 3, 3, 3, 3, 5, 6, 511], [9, 3, 3, 3, 3, 5, 511, 0]]
    with pytest.raises(ValueError, match="no room"):
        shift_right(text, ids, start=1, n_ctx=6, placeholder=3)


@pytest.mark.parametrize("spec", ["tiny-clip", "tiny-siglip", "tiny"])
def test_coop_initialised_from_words_equals_the_hand_prompt(spec):
    # The defining identity: context initialised from "a photo of a" gives exactly the text
    # embedding of the hand-written prompt "a photo of a {class}." (the real tiny backbone
    # has CLIP's BPE tokenizer with a 32-token context).
    def fresh():
        return load_backbone("tiny") if spec == "tiny" else tiny_backbone(spec)

    model = TransferModel(fresh(), [CoOp(n_ctx=4, init="a photo of a")], num_frames=4)
    assert has_start_token(model) == (spec != "tiny-siglip")
    names = ["dog", "playing the violin"]
    with torch.no_grad():
        hand = model.backbone.encode_text(model.tokenize([f"a photo of a {c}." for c in names]))
        torch.testing.assert_close(model.encode_classes(names), hand, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="pass n_ctx=4"):
        TransferModel(fresh(), [CoOp(n_ctx=6, init="a photo of a")], num_frames=4)


def test_coop_on_the_real_bpe_tokenizer_keeps_the_end_token():
    model = TransferModel(load_backbone("tiny"), [CoOp()], num_frames=4)  # 16 vectors, context 32
    prompt = model.roles["class_prompt"]
    long_name = " ".join(["violin"] * 40)
    ids = prompt.token_ids(model, ["dog", long_name])
    assert ids.shape == (2, 32) and ids[:, 0].eq(49406).all() and ids[:, 1:17].eq(prompt.placeholder).all()
    # "dog." is 2 BPE tokens, end at 1 + 16 + 2; the long name is cut before its end token
    assert ids[1, -1].item() == 49407 and model.backbone.text.pool_index(ids).tolist() == [19, 31]
    assert ids[1, 17:31].eq(ids[1, 17]).all()
    assert _step(model, ["dog", long_name]) == {"roles.class_prompt.ctx"}


def test_coop_class_specific():
    model = TransferModel(tiny_backbone("tiny-clip"), [CoOp(n_ctx=4, class_specific=True, num_classes=3)], num_frames=4)
    ctx = model.roles["class_prompt"].ctx
    assert ctx.shape == (3, 4, 64) and not torch.allclose(ctx[0], ctx[1])
    model.encode_classes(NAMES)[1].sum().backward()  # class 1's text depends on its own vectors only
    assert ctx.grad[1].abs().sum() > 0 and ctx.grad[0].abs().sum() == 0 and ctx.grad[2].abs().sum() == 0
    with pytest.raises(ValueError, match="built for 3 classes, got 2"):
        model.encode_classes(NAMES[:2])
    with pytest.raises(ValueError, match="needs num_classes"):
        CoOp(class_specific=True)
    with pytest.raises(ValueError, match="only used with class_specific"):
        CoOp(num_classes=3)
    s = CoOp(n_ctx=4, init="a photo of a", class_specific=True, num_classes=3)
    assert CoOp(**s.hyperparameters()) == s
    init = TransferModel(tiny_backbone("tiny-clip"), [s], num_frames=4).roles["class_prompt"].ctx
    assert init.shape == (3, 4, 64) and torch.equal(init[0], init[2])  # the same words for every class


# -- VPT ---------------------------------------------------------------------------------
class _Probe(nn.Module):
    """Records what a hook site sees."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[torch.Tensor, int]] = []

    def forward(self, x, ctx):
        self.seen.append((x.detach().clone(), ctx.num_prefix_tokens))
        return x


@dataclass
class _Probes(Strategy):
    name: ClassVar[str] = "probes_test"
    family: ClassVar[str] = "adapter"
    paper: ClassVar[str] = "test"

    def apply(self, model: TransferModel) -> None:
        for site in ("visual.embed", "visual.blocks.1.block_in", "visual.out"):
            model.insert(site, _Probe())


def _probes(model: TransferModel) -> list[_Probe]:
    """The probes at visual.embed, visual.blocks.1.block_in, visual.out (each after VPT's hook)."""
    v = model.backbone.visual
    return [v.hooks.sites["embed"][-1], v.blocks[1].hooks.sites["block_in"][-1], v.hooks.sites["out"][-1]]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("depth", ["shallow", "deep"])
def test_vpt_inserts_after_the_prefix_and_removes_before_pooling(arch, depth):
    model = TransferModel(tiny_backbone(arch), [Vpt(depth=depth), _Probes()], num_frames=4)
    prefix = 1 if arch == "tiny-clip" else 0
    with torch.no_grad():
        out = model.backbone.forward_video_features(clips())
    embed, block1, final = _probes(model)
    n = 16 + prefix  # 4×4 patches (+ class token)
    x, p = embed.seen[0]
    assert x.shape == (8, n + 5, 64) and p == prefix + 5
    first = model.backbone.visual.hooks.sites["embed"][0].prompts
    assert torch.equal(x[:, prefix : prefix + 5], first.expand(8, -1, -1))  # same prompts for all B·T frames
    x, _ = block1.seen[0]
    if depth == "deep":  # block 1 reads its own prompts, not block 0's outputs at those positions
        deep = model.backbone.visual.blocks[1].hooks.sites["block_in"][0].prompts
        assert torch.equal(x[:, prefix : prefix + 5], deep.expand(8, -1, -1))
    else:
        assert not torch.allclose(x[:, prefix : prefix + 5], first.expand(8, -1, -1))
    x, p = final.seen[0]
    assert x.shape == (8, n, 64) and p == prefix
    assert out.tokens.shape == (2, 4, n, 64) and out.num_prefix_tokens == prefix


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("depth", ["shallow", "deep"])
def test_vpt_trains_only_prompts_and_changes_the_output(arch, depth):
    model = TransferModel(tiny_backbone(arch), [Vpt(depth=depth)], num_frames=4)
    expect = {"backbone.visual.hooks.sites.embed.0.prompts"}
    if depth == "deep":
        expect.add("backbone.visual.transformer.blocks.1.hooks.sites.block_in.0.prompts")
    assert _step(model) == expect == {n for n, _ in model.trainable_parameters()}
    assert model.parameter_report().trainable == len(expect) * 5 * 64
    plain = TransferModel(tiny_backbone(arch), [], num_frames=4)
    with torch.no_grad():
        assert not torch.allclose(model.encode_video(clips()).embedding, plain.encode_video(clips()).embedding,
                                  atol=1e-4)
        images = clips()[:, 0]  # still images: ctx.num_frames is None
        assert model.backbone.encode_image(images).shape == plain.backbone.encode_image(images).shape


def test_vpt_deep_with_gradient_checkpointing_matches():
    model = TransferModel(tiny_backbone("tiny-clip"), [Vpt(depth="deep")], num_frames=4).train()
    grads = []
    for ckpt in (False, True):
        model.backbone.set_grad_checkpointing(ckpt)
        model.zero_grad()
        emb = model.encode_video(clips()).embedding
        emb.sum().backward()
        grads.append((emb.detach(), [p.grad.clone() for _, p in model.trainable_parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b)


def test_vpt_defaults_init_and_errors():
    s = Vpt()
    assert (s.num_tokens, s.depth, s.dropout) == (5, "shallow", 0.0)
    assert Vpt(**Vpt(num_tokens=8, depth="deep").hyperparameters()) == Vpt(num_tokens=8, depth="deep")
    model = TransferModel(tiny_backbone("tiny-clip"), [Vpt(num_tokens=50)], num_frames=4)
    prompts = model.backbone.visual.hooks.sites["embed"][0].prompts
    bound = (6 / (3 * 8 * 8 + 64)) ** 0.5  # VPT's xavier-uniform bound with patch 8, width 64
    assert prompts.abs().max() <= bound and prompts.abs().max() > 0.8 * bound
    with pytest.raises(ValueError, match="shallow"):
        Vpt(depth="middle")
    with pytest.raises(ValueError, match="num_tokens"):
        Vpt(num_tokens=0)


# -- X-CLIP prompt generator ---------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_xclip_prompt_trains_the_generator_only(arch):
    model = TransferModel(tiny_backbone(arch), [XClipPrompt()], num_frames=4)
    trainable = {n for n, _ in model.trainable_parameters()}
    assert trainable and all(n.startswith("roles.text_conditioner.") for n in trainable)
    assert _step(model) == trainable
    # it reads the last block's tokens (X-CLIP's pre-ln_post patch tokens), which the cache holds
    assert model.cache_layers == [model.depth - 1] and model.trains_from_cache
    video = clips()
    with torch.no_grad():
        out = model.encode_video(video)
        cached = model.features_from_cache(model.backbone_features(video).to_tensors())
        text = model.encode_classes(NAMES)
        from_cache = model.logits(model.encode_video_from_features(cached), text)
        torch.testing.assert_close(from_cache, model.logits(out, text))


@pytest.mark.parametrize("arch", ARCHS)
def test_xclip_prompt_texts_depend_on_each_videos_tokens(arch):
    model = TransferModel(tiny_backbone(arch), [XClipPrompt(alpha=1.0)], num_frames=4)
    cond = model.roles["text_conditioner"]
    x = clips()
    with torch.no_grad():
        text = model.encode_classes(NAMES)
        feats = model.encode_video(x).features
        assert feats.tokens is None and list(feats.layers) == [model.depth - 1]
        a = cond(text, feats)
        assert a.shape == (2, 3, model.embed_dim) and not torch.allclose(a[0], a[1])
        x2 = x.clone()
        x2[1] = torch.randn_like(x2[1])  # another second video
        b = cond(text, model.encode_video(x2).features)
        torch.testing.assert_close(b[0], a[0])  # video 0's texts are its own business
        assert not torch.allclose(b[1], a[1], atol=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_xclip_prompt_gives_plain_logits_as_alpha_goes_to_zero(arch):
    model = TransferModel(tiny_backbone(arch), [XClipPrompt()], num_frames=4)
    x = clips()
    with torch.no_grad():
        out, text = model.encode_video(x), model.encode_classes(NAMES)
        plain = model.backbone.logits(out.embedding, text)
        assert not torch.allclose(model.logits(out, text), plain, atol=1e-6)  # alpha = 0.1 at init
        model.roles["text_conditioner"].alpha.zero_()
        torch.testing.assert_close(model.logits(out, text), plain, atol=1e-5, rtol=1e-5)


def test_xclip_prompt_structure_at_vit_b16():
    # ViT-B/16: width 768, E 512 -> 8 heads; visual LN + 768×512 projection, LN, 2 layers of
    # (2 LN, q/k/v 512² without bias, out 512²+512, MLP 512·2048+2048 + 2048·512+512), alpha (512,)
    gen = VideoSpecificPrompt(768, 512, layers=2, alpha=0.1)
    layer = 2 * 1024 + 3 * 512 * 512 + (512 * 512 + 512) + (512 * 2048 + 2048) + (2048 * 512 + 512)
    assert sum(p.numel() for p in gen.parameters()) == 2 * 768 + 768 * 512 + 1024 + 2 * layer + 512 == 6_697_984
    assert gen.decoder[0].cross_attn.heads == 8 and torch.equal(gen.alpha, torch.full((512,), 0.1))
    assert XClipPrompt(**XClipPrompt(layers=1, alpha=1e-4).hyperparameters()) == XClipPrompt(layers=1, alpha=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_xclip_prompt_reads_the_last_blocks_patch_tokens_before_ln_post(arch):
    # X-CLIP's encode_image returns x[:, 1:] of the transformer output (before ln_post); its
    # encode_video applies prompts_visual_ln per frame, then the projection, then the mean over T.
    model = TransferModel(tiny_backbone(arch), [XClipPrompt(alpha=1.0)], num_frames=4)
    cond = model.roles["text_conditioner"]
    video = clips()
    with torch.no_grad():
        feats = model.encode_video(video).features
        text = model.encode_classes(NAMES)
        raw = model.backbone.forward_video_features(video, layers=[model.depth - 1])
        patches = raw.layers[model.depth - 1][:, :, model.backbone.visual.num_prefix_tokens :]
        visual = cond.norm((cond.visual_ln(patches) @ cond.prompts_visual_proj).mean(1))
        gen = text.unsqueeze(0).expand(2, -1, -1)
        for layer in cond.decoder:
            gen = layer(gen, visual)
        expected = text + cond.alpha * gen
        torch.testing.assert_close(cond(text, feats), expected)
        # not the final tokens after ln_post (what this strategy used to read): an ln_post with
        # another gain and bias changes the frame embeddings, not the generator's context
        ln_post = model.backbone.visual.ln_post
        ln_post.weight.mul_(torch.rand_like(ln_post.weight) + 0.5)
        ln_post.bias.add_(torch.randn_like(ln_post.bias))
        feats2 = model.encode_video(video).features
        assert not torch.allclose(feats2.frames, feats.frames, atol=1e-3)
        torch.testing.assert_close(cond(text, feats2), expected)


def test_xclip_prompt_skips_vpt_prompts_in_the_block_outputs():
    model = TransferModel(tiny_backbone("tiny-clip"), [Vpt(num_tokens=3), XClipPrompt()], num_frames=4)
    cond = model.roles["text_conditioner"]
    feats = model.encode_video(clips()).features
    assert feats.layers[model.depth - 1].shape[2] == 1 + 3 + 16  # class token, 3 prompts, 4x4 patches
    assert cond.patch_tokens(feats).shape[2] == 16
    torch.testing.assert_close(cond.patch_tokens(feats), feats.layers[model.depth - 1][:, :, 4:])
    assert {"roles.text_conditioner.alpha", "backbone.visual.hooks.sites.embed.0.prompts"} <= _step(model)


def test_xclip_prompt_and_vpt_modules_take_the_backbones_dtype():
    bb = tiny_backbone("tiny-clip")
    bb.model.to(torch.bfloat16)
    model = TransferModel(bb, [Vpt(depth="deep"), XClipPrompt()], num_frames=4)
    assert {p.dtype for _, p in model.trainable_parameters()} == {torch.bfloat16}
    out = model.encode_video(clips().bfloat16())
    logits = model.logits(out, model.encode_classes(NAMES))
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()
