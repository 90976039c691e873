"""Full fine-tuning and partial tuning: which backbone weights train, their learning rates
(layer-wise decay, new modules), composition rules, and parameter counts at ViT-B/16."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import nn

from vidlift.backbones import load_backbone
from vidlift.engine.optim import transfer_param_groups
from vidlift.transfer import Strategy, TransferCompositionError, TransferModel
from vidlift.transfer.adapted.lora import Lora
from vidlift.transfer.adapted.tuning import FullFinetune, PartialTuning

from .conftest import ARCHS, clips, tiny_backbone


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x, ctx):
        return x * self.g


@dataclass
class _NewModules(Strategy):
    """A stand-in for a temporal head: one head and one hook module."""

    name: ClassVar[str] = "new_modules_test"
    family: ClassVar[str] = "post-network tuning"
    paper: ClassVar[str] = "test"

    def apply(self, model: TransferModel) -> None:
        model.add_head("probe", nn.Linear(model.embed_dim, 3))
        model.insert("visual.blocks.0.mlp_out", _Scale())


def _step(model: TransferModel) -> set[str]:
    """Forward + backward on 2 clips × 4 frames; names of parameters that got a gradient."""
    out = model.encode_video(clips())
    logits = model.logits(out, model.encode_classes(["dog", "cat"]))
    (logits.logsumexp(-1).sum() + sum(h.weight.sum() for h in model.heads.values())).backward()
    return {n for n, p in model.named_parameters() if p.grad is not None}


def _trainable(model: TransferModel) -> set[str]:
    return {n for n, _ in model.trainable_parameters()}


# -- full fine-tuning ---------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_full_finetune_trains_every_backbone_weight(arch):
    model = TransferModel(tiny_backbone(arch), [FullFinetune(freeze_token_embedding=False)], num_frames=4)
    every = {f"backbone.{n}" for n, _ in model.backbone.named_parameters()}
    assert _trainable(model) == every
    assert _step(model) == every  # all of them really receive gradient, logit scale included
    assert model.parameter_report().trainable == sum(p.numel() for p in model.backbone.parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_full_finetune_keeps_the_token_embedding_frozen_by_default_as_vifi_clip(arch):
    model = TransferModel(tiny_backbone(arch), [FullFinetune()], num_frames=4)
    table = model.backbone.text_encoder.token_embedding_weight
    every = {f"backbone.{n}" for n, _ in model.backbone.named_parameters()}
    assert not table.requires_grad and _trainable(model) == every - {"backbone.text.token_embedding.weight"}
    assert _step(model) == _trainable(model) and table.grad is None
    assert model.parameter_report().trainable == sum(p.numel() for p in model.backbone.parameters()) - table.numel()
    assert "but the token embedding" in model.parameter_report().insertions[0].what


@pytest.mark.parametrize("arch", ARCHS)
def test_full_finetune_visual_only_leaves_text_and_temperature(arch):
    model = TransferModel(tiny_backbone(arch), [FullFinetune(towers=("visual",))], num_frames=4)
    got = _step(model)
    assert got == _trainable(model)
    assert got and all(n.startswith(("backbone.visual.", "backbone.visual_proj.")) for n in got)
    assert {f"backbone.{n}" for n, _ in model.backbone.visual.named_parameters(prefix="visual")} <= got
    assert not model.backbone.logit_scale.requires_grad


def test_full_finetune_towers_validation_and_roundtrip():
    assert FullFinetune(towers=["text", "visual"]).towers == ("visual", "text")
    for bad in (("text",), (), ("visual", "audio")):
        with pytest.raises(ValueError, match="towers"):
            FullFinetune(towers=bad)
    with pytest.raises(ValueError, match="layer_decay"):
        FullFinetune(layer_decay=0.0)
    s = FullFinetune(towers=("visual",), layer_decay=0.65)
    assert FullFinetune(**s.hyperparameters()) == s


def _lr_of(model: TransferModel, lr: float) -> dict[str, float]:
    by_id = {id(p): g["lr"] for g in transfer_param_groups(model, lr, 0.0) for p in g["params"]}
    return {n: by_id[id(p)] for n, p in model.trainable_parameters()}


def test_layer_decay_and_new_module_rates():
    # tiny-clip: 2 visual blocks, 2 text blocks. decay 0.5: block i -> 0.5**(2 - i),
    # embeddings 0.5**3, everything above the blocks 1, other strategies' modules 10.
    full = FullFinetune(layer_decay=0.5, freeze_token_embedding=False)
    model = TransferModel(tiny_backbone("tiny-clip"), [full, _NewModules()], num_frames=4)
    lrs = _lr_of(model, 1.0)
    expect = {
        "backbone.visual.patch_embed.weight": 0.125, "backbone.visual.pos_embed": 0.125,
        "backbone.visual.class_embedding": 0.125, "backbone.visual.ln_pre.weight": 0.125,
        "backbone.visual.transformer.blocks.0.attn.q_proj.weight": 0.25,
        "backbone.visual.transformer.blocks.1.mlp.fc2.bias": 0.5,
        "backbone.visual.ln_post.weight": 1.0, "backbone.visual_proj.weight": 1.0,
        "backbone.text.token_embedding.weight": 0.125, "backbone.text.pos_embed": 0.125,
        "backbone.text.transformer.blocks.0.ln_1.bias": 0.25,
        "backbone.text.transformer.blocks.1.attn.out_proj.weight": 0.5,
        "backbone.text.ln_final.weight": 1.0, "backbone.text_proj.weight": 1.0, "backbone.logit_scale": 1.0,
        "heads.probe.weight": 10.0, "heads.probe.bias": 10.0,
        "backbone.visual.transformer.blocks.0.hooks.sites.mlp_out.0.g": 10.0,
    }
    for name, scale in expect.items():
        assert lrs[name] == pytest.approx(scale), name
    # off by default: one rate for the backbone, 10x for new modules
    model = TransferModel(tiny_backbone("tiny-clip"), [FullFinetune(), _NewModules()], num_frames=4)
    lrs = _lr_of(model, 2e-5)
    assert {v for n, v in lrs.items() if n.startswith("backbone.") and ".hooks." not in n} == {2e-5}
    assert lrs["heads.probe.weight"] == pytest.approx(2e-4)


def test_layer_decay_on_siglip_text_tower_and_map_head():
    model = TransferModel(tiny_backbone("tiny-siglip"), [FullFinetune(layer_decay=0.5)], num_frames=4)
    lrs = _lr_of(model, 1.0)
    assert lrs["backbone.visual.patch_embed.bias"] == pytest.approx(0.125)
    assert lrs["backbone.visual.attn_pool.probe"] == 1.0 and lrs["backbone.logit_bias"] == 1.0
    assert lrs["backbone.text.transformer.blocks.1.mlp.fc1.weight"] == pytest.approx(0.5)


@pytest.mark.parametrize("other", [PartialTuning(), Lora()])
@pytest.mark.parametrize("full_first", [True, False])
def test_full_finetune_refuses_partial_tuning_and_lora(other, full_first):
    strategies = [FullFinetune(), other] if full_first else [other, FullFinetune()]
    with pytest.raises(TransferCompositionError, match="full_finetune"):
        TransferModel(tiny_backbone("tiny-clip"), strategies, num_frames=4)


# -- partial tuning -----------------------------------------------------------------------
def _declared(model: TransferModel) -> set[str]:
    return {n.removeprefix("backbone.") for n in _trainable(model)}


def test_partial_subsets_select_exactly_these_tensors():
    bb = tiny_backbone("tiny-clip")
    every = [n for n, _ in bb.model.named_parameters()]
    last = TransferModel(bb, [PartialTuning("last_blocks", k=1)], num_frames=4)
    assert _declared(last) == {n for n in every if n.startswith("visual.transformer.blocks.1.")} | {
        "visual.ln_post.weight", "visual.ln_post.bias", "visual_proj.weight"}
    norms = TransferModel(tiny_backbone("tiny-clip"), [PartialTuning("norms")], num_frames=4)
    assert _declared(norms) == {n for n in every
                                if n.startswith("visual.") and (".ln_" in n or n.startswith("visual.ln_"))}
    assert len(_declared(norms)) == 2 * (2 * 2 + 2)  # ln_1, ln_2 per block + ln_pre + ln_post, gain and bias
    bias = TransferModel(tiny_backbone("tiny-clip"), [PartialTuning("biases")], num_frames=4)
    assert _declared(bias) == {n for n in every if n.startswith("visual.") and n.endswith(".bias")}
    proj = TransferModel(tiny_backbone("tiny-clip"), [PartialTuning("projections", towers=("visual", "text"))],
                         num_frames=4)
    assert _declared(proj) == {"visual_proj.weight", "text_proj.weight"}  # not the logit scale


def test_partial_on_siglip():
    # BitFit on SigLIP also tunes the patch embedding's and the MAP head's biases.
    bias = TransferModel(tiny_backbone("tiny-siglip"), [PartialTuning("biases")], num_frames=4)
    assert {"visual.patch_embed.bias", "visual.attn_pool.attn.q_proj.bias",
            "visual.attn_pool.norm.bias"} <= _declared(bias)
    with pytest.raises(TransferCompositionError, match="projection"):
        TransferModel(tiny_backbone("tiny-siglip"), [PartialTuning("projections")], num_frames=4)
    proj = TransferModel(tiny_backbone("tiny-siglip"), [PartialTuning("projections", towers=("visual", "text"))],
                         num_frames=4)
    assert _declared(proj) == {"text_proj.weight", "text_proj.bias"}
    last = TransferModel(tiny_backbone("tiny-siglip"), [PartialTuning(k=1, towers=("visual", "text"))], num_frames=4)
    d = _declared(last)
    assert "visual.attn_pool.probe" in d and "text.transformer.blocks.1.attn.q_proj.weight" in d
    assert "text_proj.bias" in d
    assert not any(".blocks.0." in n for n in d)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("subset", ["last_blocks", "norms", "biases"])
def test_partial_gradients_and_one_step_touch_only_the_subset(arch, subset):
    model = TransferModel(tiny_backbone(arch), [PartialTuning(subset, k=1)], num_frames=4)
    before = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    got = _step(model)
    assert got == _trainable(model)
    torch.optim.SGD([p for _, p in model.trainable_parameters()], lr=0.1).step()
    changed = {f"backbone.{n}" for n, p in model.backbone.named_parameters() if not torch.equal(p, before[n])}
    # frozen weights stay bit-identical; (zero-gradient ones such as a key bias may stay too)
    assert changed and changed <= got


def test_partial_errors():
    with pytest.raises(ValueError, match="unknown partial-tuning subset"):
        PartialTuning("heads")
    with pytest.raises(ValueError, match="k must be"):
        PartialTuning(k=0)
    with pytest.raises(ValueError, match="k=3 last blocks requested, but the visual tower has only 2"):
        TransferModel(tiny_backbone("tiny-clip"), [PartialTuning(k=3)], num_frames=4)
    s = PartialTuning("biases", towers=["visual", "text"])
    assert PartialTuning(**s.hyperparameters()) == s and s.towers == ("visual", "text")


# -- published sizes at ViT-B/16 ---------------------------------------------------------
@pytest.fixture(scope="module")
def vit_b16_loaded():
    return load_backbone("random:ViT-B-16")


@pytest.fixture
def vit_b16(vit_b16_loaded):
    """A fresh copy of the loaded ViT-B/16 per call: one backbone serves one TransferModel."""
    import copy
    import dataclasses

    return lambda: dataclasses.replace(vit_b16_loaded, model=copy.deepcopy(vit_b16_loaded.model))


def test_vit_b16_counts(vit_b16):
    full = TransferModel(vit_b16(), [FullFinetune(freeze_token_embedding=False)], num_frames=8).parameter_report()
    assert full.trainable == pytest.approx(149.6e6, rel=0.01)  # whole CLIP ViT-B/16 (ActionCLIP)
    vifi = TransferModel(vit_b16(), [FullFinetune()], num_frames=8).parameter_report()
    assert vifi.trainable == full.trainable - 49_408 * 512  # the token table (vocabulary x text width)
    assert vifi.trainable == pytest.approx(124.3e6, rel=0.01)  # ViFi-CLIP's 124.3M
    visual = TransferModel(vit_b16(), [FullFinetune(towers=("visual",))], num_frames=8).parameter_report()
    assert visual.trainable == pytest.approx(86e6, rel=0.01)  # image tower ≈ 86M
    bitfit = TransferModel(vit_b16(), [PartialTuning("biases")], num_frames=8).parameter_report().trainable
    # 12 blocks × (q, k, v, out: 4·768 + fc1 3072 + fc2 768 + ln_1, ln_2: 2·768) + ln_pre + ln_post
    assert bitfit == 12 * (4 * 768 + 3072 + 768 + 2 * 768) + 2 * 768 == 102_912  # BitFit's ≈0.10M
    last2 = TransferModel(vit_b16(), [PartialTuning(k=2)], num_frames=8).parameter_report().trainable
    block = 4 * (768 * 768 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768) + 2 * 2 * 768
    assert last2 == 2 * block + 2 * 768 + 768 * 512
