"""EVA-CLIP behind the backbone contract: the frame axis, every hook site, RoPE with
prepended tokens, the TowerBlock attention reuse (exact along time), parameters by role,
LoRA targets, and the refusals (naming the caller and the family)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import re

import pytest
import torch
from torch import nn

from vidlift.backbones import BackboneCapabilityError, TowerBlock, VisionLanguageBackbone, load_backbone
from vidlift.backbones.contract import LORA_KINDS, PARTS
from vidlift.backbones.eva import EvaClip
from vidlift.backbones.eva.rope import rope_table
from vidlift.backbones.layers import BLOCK_SITES

B, T, N, D = 2, 3, 17, 64  # tiny-eva: 4x4 patches + class token, width 64


@pytest.fixture
def model() -> EvaClip:
    m = load_backbone("random:tiny-eva").model
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():  # non-default norms and biases, so that every module matters
        for p in m.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return m


def _video(seed: int = 0, size: int = 32) -> torch.Tensor:
    return torch.randn(B, T, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _ids() -> torch.Tensor:
    ids = torch.randint(1, 500, (B, 16), generator=torch.Generator().manual_seed(1))
    ids[:, 0], ids[0, 6], ids[1, 15] = 510, 511, 511
    ids[0, 7:] = 0
    return ids


def test_is_a_contract_backbone(model):
    assert isinstance(model, VisionLanguageBackbone) and model.family == "eva-clip"
    assert isinstance(model.vision_block(-1), TowerBlock) and model.vision_block(0).num_heads == 2
    layout = model.token_layout
    assert (layout.num_prefix_tokens, layout.grid, layout.width, layout.patch_size) == (1, (4, 4), 64, 8)
    assert layout.num_tokens == 17
    assert (model.vision_depth, model.vision_width, model.embed_dim) == (2, 64, 32)
    assert model.score_activation == "softmax"
    assert model.config_dict()["family"] == "eva-clip"


def test_video_runs_as_frames(model):
    video = _video()
    with torch.no_grad():
        out = model.forward_video_features(video, layers=[0, -1])
        frames = model.encode_image(video.flatten(0, 1)).unflatten(0, (B, T))
        per_frame = model.encode_video(video)
    assert out.pooled.shape == (B, T, D) and out.tokens.shape == (B, T, N, D)
    assert sorted(out.layers) == [0, 1] and out.layers[1].shape == (B, T, N, D)
    assert out.num_prefix_tokens == 1
    torch.testing.assert_close(per_frame, frames, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="video batch"):
        model.forward_video_features(video[0])


class Record(nn.Module):
    """An identity hook that records where it ran."""

    def __init__(self, site: str, log: list) -> None:
        super().__init__()
        self.site, self.log = site, log

    def forward(self, x, ctx):
        self.log.append((self.site, tuple(x.shape), ctx.num_frames, ctx.layer, ctx.block is not None,
                         None if ctx.branch_input is None else tuple(ctx.branch_input.shape)))
        return x


def test_every_hook_site_is_called_with_its_shapes(model):
    video, ids = _video(), _ids()
    with torch.no_grad():
        plain = model.encode_video(video), model.encode_text(ids)
    sites = model.hook_sites()
    assert len(sites) == 2 * (2 + 2 * len(BLOCK_SITES)) and sites[0] == "visual.embed" and sites[-1] == "text.out"
    log: list = []
    for site in sites:
        model.add_hook(site, Record(site, log))
    with torch.no_grad():
        hooked = model.encode_video(video), model.encode_text(ids)
    assert [entry[0] for entry in log] == sites  # each once, in forward order
    for site, shape, frames, layer, in_block, branch in log:
        tower = site.split(".")[0]
        assert shape == ((B * T, N, D) if tower == "visual" else (B, 16, 64)), site
        assert frames == (T if tower == "visual" else None), site
        if ".blocks." in site:
            assert layer == int(site.split(".")[2]) and in_block, site
            if site.endswith(("attn_out", "mlp_out")):
                assert branch == shape, site  # the branch's normalised input
    for a, b in zip(plain, hooked):  # identity hooks: the hooked path computes the fast path's numbers
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    with pytest.raises(KeyError, match="block 5 does not exist"):
        model.add_hook("visual.blocks.5.attn_out", Record("x", log))
    with pytest.raises(KeyError, match="unknown hook site"):
        model.add_hook("visual.blocks.0.attn_mid", Record("x", log))


class Prompts(nn.Module):
    """At visual.embed: prepend P tokens after the class token (as VPT does) and mask them out
    of the original tokens' attention, so the original tokens must compute exactly what they
    compute without prompts -- which holds only if RoPE still rotates the patches."""

    def __init__(self, p: int) -> None:
        super().__init__()
        self.p = p

    def forward(self, x, ctx):
        prompts = torch.randn(x.shape[0], self.p, x.shape[2], generator=torch.Generator().manual_seed(3))
        n = x.shape[1] + self.p
        mask = torch.zeros(n, n)
        keep = torch.ones(n, dtype=torch.bool)
        keep[1:1 + self.p] = False
        mask[keep.nonzero()[:, 0, None], ~keep] = float("-inf")
        ctx.attn_mask = mask
        ctx.num_prefix_tokens += self.p
        return torch.cat([x[:, :1], prompts, x[:, 1:]], dim=1)


class DropPrompts(nn.Module):
    def __init__(self, p: int) -> None:
        super().__init__()
        self.p = p

    def forward(self, x, ctx):
        ctx.num_prefix_tokens -= self.p
        return torch.cat([x[:, :1], x[:, 1 + self.p:]], dim=1)


def test_rope_rotates_the_patches_after_prepended_tokens(model):
    video = _video()
    with torch.no_grad():
        plain = model.forward_video_features(video)
        model.add_hook("visual.embed", Prompts(5))
        model.add_hook("visual.out", DropPrompts(5))
        prompted = model.forward_video_features(video)
    assert prompted.tokens.shape == plain.tokens.shape and prompted.num_prefix_tokens == 1
    torch.testing.assert_close(prompted.tokens, plain.tokens, rtol=0, atol=1e-5)


def test_tokens_added_without_counting_them_are_refused(model):
    class AppendUncounted(nn.Module):
        def forward(self, x, ctx):
            return torch.cat([x, x[:, :1]], dim=1)

    class DropLast(nn.Module):
        def forward(self, x, ctx):
            return x[:, :-1]

    # Added and removed within the last block: caught where RoPE is applied, not by a later block.
    model.add_hook(f"visual.blocks.{model.vision_depth - 1}.block_in", AppendUncounted())
    model.add_hook(f"visual.blocks.{model.vision_depth - 1}.block_out", DropLast())
    with pytest.raises(RuntimeError, match=rf"block {model.vision_depth - 1}: .*num_prefix_tokens"):
        model.encode_video(_video())


def _rope_at(position: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A RoPE table placing ``length`` tokens all at patch ``position`` of the 4x4 grid."""
    cos, sin = rope_table((4, 4), 32, (16, 16), 10000.0)
    return cos[position].expand(length, -1), sin[position].expand(length, -1)


def test_attend_sequence_is_the_block_attention_along_time(model):
    """AIM runs a block's attention over each token position's T frames: with RoPE at that
    position for every element, the attention is exactly attend_sequence (RoPE cancels)."""
    block = model.vision_block(1)
    x = torch.randn(5, T, D, generator=torch.Generator().manual_seed(4))  # 5 sequences over time
    with torch.no_grad():
        got = block.attend_sequence(x, "aim")
        for position in (0, 6, 15):
            with_rope = block.attn(block.ln_1(x), rope=_rope_at(position, T))
            torch.testing.assert_close(got, with_rope, rtol=0, atol=1e-5)
        # ... and RoPE does matter on a sequence of different positions.
        grid = torch.randn(5, 16, D, generator=torch.Generator().manual_seed(8))  # one frame's patches
        spatial = block.attn(block.ln_1(grid), rope=rope_table((4, 4), 32, (16, 16), 1e4))
        assert (spatial - block.attend_sequence(grid, "aim")).abs().max() > 1e-2


def test_attention_query_key_reproduce_the_block_attention(model):
    """EVL reads the frozen block's q and k: with them (RoPE included), softmax(q·k/√d)·v through
    the sub-LN and output projection gives the block's attention output."""
    block = model.vision_block(0)
    x = torch.randn(B, T, N, D, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        q, k = block.attention_query_key(x, "evl")
        assert q.shape == k.shape == (B, T, N, 2, 32)
        h = block.ln_1(x)
        v = block.attn.v_proj(h).unflatten(-1, (2, 32))
        w = torch.einsum("btqhd,btkhd->bthqk", q, k).mul(32 ** -0.5).softmax(-1)
        merged = torch.einsum("bthqk,btkhd->btqhd", w, v).flatten(-2)
        ours = block.attn.out_proj(block.attn.sub_norm(merged))
        ref = block.attn(h.flatten(0, 1), rope=rope_table((4, 4), 32, (16, 16), 1e4)).unflatten(0, (B, T))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_attention_copy_is_a_trainable_exact_copy(model):
    block = model.vision_block(0)
    norm, attn = block.attention_copy("divided_st")
    assert all(p.requires_grad for p in [*norm.parameters(), *attn.parameters()])
    own = {id(p) for p in block.parameters()}
    assert not any(id(p) in own for p in [*norm.parameters(), *attn.parameters()])
    x = torch.randn(4, T, D, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(attn(norm(x)), block.attend_sequence(x, "divided_st"), rtol=0, atol=1e-6)
        attn.out_proj.weight.zero_()
    assert block.attn.out_proj.weight.abs().sum() > 0  # a copy, not a view


def test_final_norm_is_what_pools_the_class_token(model):
    video = _video(seed=2)
    with torch.no_grad():
        out = model.forward_video_features(video, layers=[-1])
        last = out.layers[model.vision_depth - 1]
        torch.testing.assert_close(model.final_norm(last[:, :, 0], who="st_adapter"), out.pooled)
        torch.testing.assert_close(model.final_norm(last, who="st_adapter"), out.tokens)


def test_refusal_names_the_strategy_and_the_family(model):
    block = model.vision_block(0)
    with pytest.raises(BackboneCapabilityError, match=r"^evl needs .* which the eva-clip backbone does not offer") as e:
        block.attention_query_key(torch.randn(2, 8, D), "evl")  # fewer tokens than the 4x4 patch grid
    assert (e.value.who, e.value.family) == ("evl", "eva-clip")


def test_parameters_by_role(model):
    params = dict(model.named_parameters())
    for tower in ("visual", "text"):
        embed, head = model.parameter_names(tower, "embed"), model.parameter_names(tower, "head")
        blocks = [n for i in range(2) for n in model.parameter_names(tower, "block", i)]
        own = [n for n in params if n.startswith((f"{tower}.", f"{tower}_proj."))]
        assert sorted(embed + blocks + head) == sorted(own)  # a partition of the tower's parameters
        assert model.parameter_names(tower, "block", -1) == model.parameter_names(tower, "block", 1)
        assert {model.layer_index(n) for n in embed} == {(tower, 0)}
        assert {model.layer_index(n) for n in head} == {(tower, 3)}
        assert {model.layer_index(n) for n in model.parameter_names(tower, "block", 0)} == {(tower, 1)}
    assert model.parameter_names("visual", "embed") == ["visual.class_embedding", "visual.pos_embed",
                                                         "visual.patch_embed.weight", "visual.patch_embed.bias"]
    assert model.parameter_names("visual", "projection") == ["visual_proj.weight", "visual_proj.bias"]
    norms = model.parameter_names("visual", "norm")
    assert "visual.blocks.0.attn.sub_norm.weight" in norms and "visual.blocks.1.mlp.sub_norm.bias" in norms
    assert len(norms) == 2 * (2 * 4) + 2  # per block: ln_1, ln_2, two sub-LNs; ln_post
    biases = model.parameter_names("visual", "bias")
    assert "visual.blocks.0.attn.q_proj.bias" in biases and not any("k_proj" in n for n in biases)
    assert model.layer_index("logit_scale") is None
    assert [n for n in params if model.is_table(n)] == ["visual.class_embedding", "visual.pos_embed",
                                                         "text.pos_embed", "text.token_embedding.weight"]
    with pytest.raises(IndexError):
        model.parameter_names("visual", "block", 2)
    with pytest.raises(ValueError, match="parts"):
        model.parameter_names("visual", "neck")
    assert set(PARTS) >= {"embed", "block", "head", "norm", "bias", "projection"}


@pytest.mark.parametrize("kind, visual, text", [
    ("attn_q", ["attn.q_proj"], ["attn.q_proj"]),
    ("attn_k", ["attn.k_proj"], ["attn.k_proj"]),
    ("attn_v", ["attn.v_proj"], ["attn.v_proj"]),
    ("attn_out", ["attn.out_proj"], ["attn.out_proj"]),
    ("mlp_in", ["mlp.fc1_g", "mlp.fc1_x"], ["mlp.fc1"]),
    ("mlp_out", ["mlp.fc2"], ["mlp.fc2"]),
])
def test_lora_targets_by_kind(model, kind, visual, text):
    pattern = model.lora_targets(["visual", "text"], [kind])
    hit = sorted(n for n, _ in model.named_modules() if re.fullmatch(pattern, n))
    want = sorted([f"visual.blocks.{i}.{m}" for i in range(2) for m in visual]
                  + [f"text.transformer.blocks.{i}.{m}" for i in range(2) for m in text])
    assert hit == want
    assert all(isinstance(model.get_submodule(n), nn.Linear) for n in hit)
    only_visual = model.lora_targets(["visual"], [kind])
    assert all(n.startswith("visual.") for n, _ in model.named_modules() if re.fullmatch(only_visual, n))
    assert kind in LORA_KINDS


def test_lora_through_peft_starts_as_the_plain_model(model):
    from peft import LoraConfig, inject_adapter_in_model

    video = _video()
    with torch.no_grad():
        before = model.encode_video(video)
    config = LoraConfig(r=2, lora_alpha=4, target_modules=model.lora_targets(["visual"], list(LORA_KINDS)))
    inject_adapter_in_model(config, model)
    lora = [n for n, _ in model.named_parameters() if ".lora_" in n]
    assert len(lora) == 2 * 2 * 7  # 2 blocks x (q, k, v, out, fc1_g, fc1_x, fc2) x (A, B)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_video(video), before, rtol=0, atol=1e-6)
    assert not any(".lora_" in n for n in model.parameter_names("visual", "block", 0))  # the family's own only
    block = model.vision_block(0)
    with torch.no_grad():  # a trained LoRA delta must not leak into the copy: it takes the base weights
        for n, p in block.named_parameters():
            if ".lora_B." in n:
                p.fill_(0.5)
    norm, attn = block.attention_copy("divided_st")
    assert not any("lora" in n for n, _ in attn.named_parameters())
    base = block.attn.q_proj.base_layer.weight
    x = torch.randn(3, base.shape[1])
    with torch.no_grad():
        assert not torch.allclose(block.attn.q_proj(x), block.attn.q_proj.base_layer(x))  # LoRA is active ...
    torch.testing.assert_close(attn.q_proj.weight, base, rtol=0, atol=0)  # ... the copy is the base


def test_text_encoder_capability(model):
    ids = _ids()
    text = model.require_text("coop")
    with torch.no_grad():
        torch.testing.assert_close(text.encode(ids), model.encode_text(ids), rtol=0, atol=0)
        embeds = text.embed_tokens(ids)
        torch.testing.assert_close(text.encode(ids, inputs_embeds=embeds), model.encode_text(ids), rtol=0, atol=0)
    assert text.pool_index(ids).tolist() == [6, 15] and text.token_embedding_weight.shape == (512, 64)


def test_grad_checkpointing_gives_the_same_gradients(model):
    video = _video()
    model.add_hook("visual.blocks.0.attn_out", Record("a", []))

    def grads():
        model.zero_grad()
        model.encode_video(video).square().sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    model.train()
    plain = grads()
    model.set_grad_checkpointing(True)
    assert model.visual.grad_checkpointing
    checkpointed = grads()
    assert plain.keys() == checkpointed.keys() and len(plain) > 30
    for n in plain:
        torch.testing.assert_close(checkpointed[n], plain[n], rtol=1e-5, atol=1e-6)


def test_new_like_and_logits(model):
    other = model.new_like()
    assert type(other) is EvaClip and other.config_dict() == model.config_dict()
    img, txt = torch.randn(3, 32), torch.randn(4, 32)
    cos = nn.functional.normalize(img, dim=-1) @ nn.functional.normalize(txt, dim=-1).t()
    torch.testing.assert_close(model.logits(img, txt), model.logit_scale.exp() * cos)


def test_bf16_runs(model):
    with torch.no_grad():
        out = model.to(torch.bfloat16).encode_video(_video().bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_image_tower_like_builds_a_student_of_the_same_design(model):
    student = model.image_tower_like(32, 1, 2, "distillation")
    assert student.cfg.patch_size == 8 and student.cfg.image_size == 32 and len(student.blocks) == 1
    out = student(_video())
    assert out.pooled.shape == (B, T, 32) and out.tokens.shape == (B, T, N, 32)
    with pytest.raises(BackboneCapabilityError, match=r"^distillation needs .* eva-clip backbone .* divisible by 4"):
        model.image_tower_like(36, 1, 6, "distillation")  # head width 6: no 2-D RoPE


def test_save_backbone_writes_eva_as_openclip_and_reloads(tmp_path):
    """An EVA-CLIP backbone saves in open_clip's layout and loads back with the same outputs."""
    import torch

    from vidlift.backbones import load_backbone, save_backbone

    bb = load_backbone("random:tiny-eva:7")
    out = save_backbone(bb.model, tmp_path / "eva", fmt="openclip")
    again = load_backbone(f"openclip:auto:{out}")
    assert again.model.family == "eva-clip"
    x = torch.randn(2, 3, bb.preprocess.size, bb.preprocess.size)
    torch.testing.assert_close(again.model.encode_image(x), bb.model.encode_image(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="eva-clip family only as 'openclip'"):
        save_backbone(bb.model, tmp_path / "hf", fmt="hf")
