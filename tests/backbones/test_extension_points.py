"""The extension points every transfer paradigm builds on (DESIGN.md §2.1)."""

import math

import pytest
import torch
from torch import nn

from vidlift.backbones import CLIP, clip_loss, get_arch, siglip_loss


@pytest.fixture(params=["tiny-clip", "tiny-siglip"])
def model(request):
    torch.manual_seed(0)
    return CLIP(get_arch(request.param)).eval()


def _video(b=2, t=3, size=32):
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_frame_axis_runs_as_batch_of_images(model):
    video = _video()
    per_frame = model.encode_video(video)
    images = model.encode_image(video.flatten(0, 1)).unflatten(0, (2, 3))
    assert per_frame.shape == (2, 3, model.embed_dim)
    assert torch.allclose(per_frame, images, atol=1e-6)


def test_final_norm_is_the_towers_norm_before_pooling(model):
    from vidlift.backbones import BackboneCapabilityError, VisionLanguageBackbone

    video = _video()
    with torch.no_grad():
        out = model.forward_video_features(video, layers=[-1])
        last = out.layers[model.vision_depth - 1]
        torch.testing.assert_close(model.final_norm(last, who="st_adapter"), out.tokens)
        if model.token_layout.class_token:  # CLIP: pooled = the class token after the norm
            torch.testing.assert_close(model.final_norm(last[:, :, 0], who="st_adapter"), out.pooled)
    with pytest.raises(BackboneCapabilityError, match=r"^st_adapter needs its image tower's final norm") as e:
        VisionLanguageBackbone.final_norm(model, last, who="st_adapter")  # the contract's default refuses
    assert (e.value.who, e.value.family) == ("st_adapter", model.family)


class Recorder(nn.Module):
    def __init__(self, log, site):
        super().__init__()
        self.log, self.site = log, site

    def forward(self, x, ctx):
        self.log.append((self.site, ctx.layer, ctx.num_frames, tuple(x.shape),
                         None if ctx.branch_input is None else tuple(ctx.branch_input.shape)))
        return x


def test_hook_sites_order_shapes_and_frame_count(model):
    log = []
    block = model.visual.blocks[1]
    for site in ("block_out", "mlp_out", "attn_in", "block_in", "attn_out", "mlp_in"):
        block.hooks.add(site, Recorder(log, site))
    video = _video()
    with torch.no_grad():
        ref = model.encode_video(video)
    n = model.visual.pos_embed.shape[0]
    assert [e[0] for e in log] == ["block_in", "attn_in", "attn_out", "mlp_in", "mlp_out", "block_out"]
    assert all(e[1] == 1 and e[2] == 3 and e[3] == (6, n, 64) for e in log)
    assert log[2][4] == (6, n, 64) and log[0][4] is None  # branch input only at *_out sites
    log.clear()
    with torch.no_grad():
        model.encode_image(video[:, 0])
    assert all(e[2] is None for e in log)  # still images: no frame axis
    # Identity hooks take the slow path but must not change the result.
    block.hooks.clear()
    with torch.no_grad():
        assert torch.allclose(model.encode_video(video), ref, atol=1e-6)
    with pytest.raises(KeyError, match="unknown hook site"):
        block.hooks.add("nowhere", nn.Identity())


class TemporalMean(nn.Module):
    """Mixes information across frames: each frame's tokens become the clip mean."""

    def __init__(self):
        super().__init__()
        self.gate = nn.Parameter(torch.tensor(0.0))

    def forward(self, x, ctx):
        clip = x.view(-1, ctx.num_frames, *x.shape[1:])
        mixed = clip.mean(1, keepdim=True).expand_as(clip).reshape(x.shape)
        return x + torch.sigmoid(self.gate) * (mixed - x) * 2  # gate 0 -> full mix


def test_block_can_mix_frames_and_train_alone(model):
    for p in model.parameters():
        p.requires_grad_(False)
    hook = model.visual.blocks[-1].hooks.add("block_out", TemporalMean())
    video = _video()
    out = model.encode_video(video)
    # After a full temporal mix every frame of a clip has the same embedding.
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-5) and not torch.allclose(out[0, 0], out[1, 0])
    out.sum().backward()
    assert hook.gate.grad is not None and hook.gate.grad.abs() > 0
    assert all(p.grad is None for p in model.parameters() if p is not hook.gate)
    assert "visual.transformer.blocks.1.hooks.sites.block_out.0.gate" in dict(model.named_parameters())


class _Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, ctx):
        self.fn(x, ctx)
        return x


def test_parallel_adapter_sees_branch_input_and_block(model):
    """AdaptFormer / AIM-joint adapters run beside the MLP on its normalised input."""
    stash = {}
    blk = model.visual.blocks[0]
    blk.hooks.add("block_in", _Fn(lambda x, ctx: stash.update(x=x)))
    blk.hooks.add("attn_out", _Fn(lambda x, ctx: stash.update(residual=stash["x"] + x)))
    blk.hooks.add("mlp_out", _Fn(lambda x, ctx: stash.update(
        ok=torch.allclose(ctx.branch_input, ctx.block.ln_2(stash["residual"]), atol=1e-6),
        mlp=torch.allclose(x, ctx.block.mlp(ctx.branch_input), atol=1e-6))))
    with torch.no_grad():
        model.encode_image(torch.randn(2, 3, 32, 32))
    assert stash["ok"] and stash["mlp"]


@pytest.fixture
def clip_model():
    torch.manual_seed(0)
    return CLIP(get_arch("tiny-clip")).eval()


def test_every_layer_tokens(model):
    out = model.forward_video_features(_video(), layers="all")
    n = model.visual.pos_embed.shape[0]
    assert sorted(out.layers) == [0, 1]
    assert all(t.shape == (2, 3, n, 64) for t in out.layers.values())
    assert torch.allclose(out.tokens, model.visual.ln_post(out.layers[1]), atol=1e-6)
    neg = model.forward_video_features(_video(), layers=[-1])
    assert torch.allclose(neg.layers[1], out.layers[1])
    with pytest.raises(ValueError, match="out of range"):
        model.forward_video_features(_video(), layers=[5])


class VisualPrompts(nn.Module):
    """Prepends P learnable tokens after the class token (VPT-shallow style)."""

    def __init__(self, p, d):
        super().__init__()
        self.prompts = nn.Parameter(torch.randn(p, d) * 0.1)

    def forward(self, x, ctx):
        k = ctx.num_prefix_tokens
        prompts = self.prompts.expand(x.shape[0], -1, -1)
        ctx.num_prefix_tokens += self.prompts.shape[0]
        return torch.cat([x[:, :k], prompts, x[:, k:]], dim=1)


def test_prepended_visual_tokens(model):
    video = _video()
    with torch.no_grad():
        ref = model.encode_video(video)
    vpt = model.visual.hooks.add("embed", VisualPrompts(5, 64))
    out = model.forward_video_features(video)
    n = model.visual.pos_embed.shape[0]
    assert out.tokens.shape == (2, 3, n + 5, 64)
    assert out.num_prefix_tokens == model.visual.num_prefix_tokens + 5
    emb = model.project_image(out.pooled)
    assert not torch.allclose(emb, ref, atol=1e-4)
    emb.sum().backward()
    assert vpt.prompts.grad is not None and vpt.prompts.grad.abs().sum() > 0


def test_replaceable_text_embeddings(model):
    ids = torch.randint(1, 500, (2, 16))
    ids[:, 6] = 511
    ids[:, 7:] = 0
    with torch.no_grad():
        ref = model.encode_text(ids)
        same = model.encode_text(ids, inputs_embeds=model.text.token_embedding(ids))
    assert torch.allclose(ref, same, atol=1e-6)

    class Context(nn.Module):
        """CoOp-style: learnable vectors replace the embeddings of positions 1..4."""

        def __init__(self):
            super().__init__()
            self.ctx = nn.Parameter(torch.randn(4, 64) * 0.1)

        def forward(self, x, ctx):
            assert torch.equal(ctx.extras["input_ids"], ids)
            return torch.cat([x[:, :1], self.ctx.expand(x.shape[0], -1, -1), x[:, 5:]], dim=1)

    coop = model.text.hooks.add("embed", Context())
    out = model.encode_text(ids)
    assert not torch.allclose(out, ref, atol=1e-4)
    out.sum().backward()
    assert coop.ctx.grad.abs().sum() > 0


def test_other_input_sizes_interpolate_positions(clip_model):
    out = clip_model.encode_video(torch.randn(1, 2, 3, 48, 48))
    assert out.shape == (1, 2, 32)


class LayerScaled(nn.Module):
    """Reads the mutable context (layer index, frame count): checkpoint recompute must see the
    same values as the first forward."""

    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.tensor([0.5, 2.0]))

    def forward(self, x, ctx):
        return x * self.s[ctx.layer] + 0.1 * ctx.num_frames


def test_grad_checkpointing_gives_same_gradients(clip_model):
    clip_model.train()
    clip_model.visual.hooks.add("embed", VisualPrompts(3, 64))
    for blk in clip_model.visual.blocks:
        blk.hooks.add("mlp_out", LayerScaled())
    video = _video()

    def grads():
        clip_model.zero_grad()
        clip_model.encode_video(video).sum().backward()
        return {k: p.grad.clone() for k, p in clip_model.named_parameters() if p.grad is not None}

    ref = grads()
    clip_model.set_grad_checkpointing(True)
    calls = []
    block0 = clip_model.visual.blocks[0]
    forward = block0.forward
    block0.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    got = grads()
    assert len(calls) == 2  # the forward, then the recompute in backward: checkpointing ran
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.allclose(got[k], ref[k], atol=1e-5), k


def test_losses_match_their_definitions():
    logits = torch.tensor([[5.0, 1.0, 0.0], [0.5, 4.0, 1.0], [0.0, 2.0, 3.0]])
    ce = torch.nn.functional.cross_entropy
    t = torch.arange(3)
    assert torch.isclose(clip_loss(logits), (ce(logits, t) + ce(logits.t(), t)) / 2)
    # SigLIP: -1/n Σ_ij log σ(z_ij l_ij), z = +1 on the diagonal, -1 elsewhere.
    by_hand = 0.0
    for i in range(3):
        for j in range(3):
            z = 1.0 if i == j else -1.0
            by_hand -= math.log(1 / (1 + math.exp(-z * logits[i, j].item())))
    assert siglip_loss(logits).item() == pytest.approx(by_hand / 3, rel=1e-6)
