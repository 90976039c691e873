"""LoRA through PEFT: identity at init, only A/B train, hand-counted parameters, merge back
to a plain CLIP with the same outputs, tower / target restriction (targets are the contract's
kinds, turned into module names by the backbone), composition order."""

from __future__ import annotations

import pytest
import torch

from vidlift.backbones import CLIP, load_backbone
from vidlift.transfer import TransferCompositionError, TransferModel, export_model, load_exported
from vidlift.transfer.adapted.lora import Lora
from vidlift.transfer.adapted.tuning import PartialTuning

from .conftest import ARCHS, clips, tiny_backbone


def _lora_names(model: TransferModel) -> set[str]:
    return {n for n, _ in model.named_parameters() if ".lora_A." in n or ".lora_B." in n}


def _randomise_b(model: TransferModel, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.mark.parametrize("arch", ARCHS)
def test_lora_trains_only_a_and_b(arch):
    model = TransferModel(tiny_backbone(arch), [Lora()], num_frames=4)
    names = _lora_names(model)
    # 2 blocks × (q_proj, v_proj) × (A, B), image tower only
    assert len(names) == 8 and all(n.startswith("backbone.visual.transformer.blocks.") for n in names)
    assert {n for n, _ in model.trainable_parameters()} == names
    out = model.encode_video(clips())
    model.logits(out, model.encode_classes(["dog", "cat"])).logsumexp(-1).sum().backward()
    assert {n for n, p in model.named_parameters() if p.grad is not None} == names
    # B = 0 at init: A's gradient is zero, B's is not (the update starts in B)
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert all(g.abs().sum() > 0 for n, g in grads.items() if ".lora_B." in n)


@pytest.mark.parametrize("arch", ARCHS)
def test_lora_starts_as_the_frozen_backbone(arch):
    x = clips()
    plain = TransferModel(tiny_backbone(arch), [], num_frames=4)
    every = ("attn_q", "attn_k", "attn_v", "attn_out", "mlp_in", "mlp_out")
    lora = TransferModel(tiny_backbone(arch), [Lora(targets=every)], num_frames=4)
    with torch.no_grad():
        torch.testing.assert_close(lora.encode_video(x).embedding, plain.encode_video(x).embedding, atol=1e-6, rtol=0)
        _randomise_b(lora)
        assert not torch.allclose(lora.encode_video(x).embedding, plain.encode_video(x).embedding, atol=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_merge_gives_a_plain_clip_with_the_same_outputs(arch):
    x = clips()
    model = TransferModel(tiny_backbone(arch),
                          [Lora(towers=("visual", "text"), targets=("attn_q", "attn_v", "mlp_out"))],
                          num_frames=4)
    _randomise_b(model)
    with torch.no_grad():
        video, text = model.encode_video(x).embedding, model.encode_classes(["dog", "cat"])
        assert model.strategies[0].merge(model) is True
        torch.testing.assert_close(model.encode_video(x).embedding, video, atol=1e-5, rtol=0)
        torch.testing.assert_close(model.encode_classes(["dog", "cat"]), text, atol=1e-5, rtol=0)
    plain_keys = set(CLIP(model.backbone.cfg).state_dict())
    assert set(model.backbone.state_dict()) == plain_keys
    assert "visual.transformer.blocks.0.attn.q_proj.weight" in plain_keys
    assert model.strategies[0].merge(model) is True  # already merged: nothing left, still folded in
    assert set(model.backbone.state_dict()) == plain_keys


def test_export_after_merge_reloads_as_plain_backbone(tmp_path):
    x = clips()
    model = TransferModel(tiny_backbone("tiny-clip"), [Lora()], num_frames=4)
    _randomise_b(model)
    with torch.no_grad():
        before = model.encode_video(x).embedding
        out = export_model(model, tmp_path / "exp")
        again = load_exported(out)
        assert [s.name for s in again.strategies] == []  # LoRA lives in the weights now
        torch.testing.assert_close(again.encode_video(x).embedding, before, atol=1e-5, rtol=0)


def test_parameter_count_is_r_times_in_plus_out():
    model = TransferModel(tiny_backbone("tiny-clip"), [Lora(r=4, targets=("attn_q", "attn_v", "mlp_in", "mlp_out"))],
                          num_frames=4)
    # width 64, MLP 256, 2 blocks: q, v 4·(64+64) each; fc1 and fc2 4·(64+256) each
    assert model.parameter_report().trainable == 2 * (2 * 4 * (64 + 64) + 2 * 4 * (64 + 256)) == 7168


def test_vit_b16_parameter_count():
    model = TransferModel(load_backbone("random:ViT-B-16"), [Lora(towers=("visual", "text"))], num_frames=8)
    # 12 visual blocks of width 768 and 12 text blocks of width 512, q and v, r = 8
    visual, text = 12 * 2 * 8 * (768 + 768), 12 * 2 * 8 * (512 + 512)
    assert (visual, text) == (294_912, 196_608)
    assert model.parameter_report().trainable == visual + text


def test_targets_stay_inside_the_chosen_towers_blocks():
    attn = ("attn_q", "attn_k", "attn_v", "attn_out")
    model = TransferModel(tiny_backbone("tiny-siglip"), [Lora(targets=attn)], num_frames=4)
    wrapped = {n.rsplit(".lora_A.", 1)[0] for n in _lora_names(model) if ".lora_A." in n}
    assert len(wrapped) == 8 and not any(n.startswith(("backbone.text.", "backbone.visual.attn_pool")) for n in wrapped)
    # kinds become the family's module names: CLIP's attn.q_proj, its MLP's fc1
    model = TransferModel(tiny_backbone("tiny-clip"), [Lora(targets=("attn_q", "mlp_in"))], num_frames=4)
    wrapped = {n.rsplit(".lora_A.", 1)[0].removeprefix("backbone.") for n in _lora_names(model) if ".lora_A." in n}
    assert wrapped == {f"visual.transformer.blocks.{i}.{m}" for i in (0, 1) for m in ("attn.q_proj", "mlp.fc1")}


def test_hyperparameters_and_errors():
    s = Lora(r=4, alpha=16.0, targets=["attn_q", "attn_k"], towers=["text", "visual"])
    assert s.targets == ("attn_q", "attn_k") and s.towers == ("visual", "text")
    assert Lora(**s.hyperparameters()) == s
    # the module names of earlier versions (configs, saved deltas) are read as kinds
    assert Lora(targets=("q_proj", "v_proj", "fc1", "fc2")).targets == ("attn_q", "attn_v", "mlp_in", "mlp_out")
    with pytest.raises(ValueError, match="targets"):
        Lora(targets=("attn_q", "q_proj"))  # the same kind twice
    with pytest.raises(ValueError, match="targets"):
        Lora(targets=("qkv",))
    with pytest.raises(ValueError, match="rank"):
        Lora(r=0)


def test_composition_order_with_partial_tuning():
    # LoRA first: PEFT has renamed the Linears before partial tuning picks names -> both train.
    model = TransferModel(tiny_backbone("tiny-clip"), [Lora(), PartialTuning("biases")], num_frames=4)
    trainable = {n for n, _ in model.trainable_parameters()}
    assert _lora_names(model) <= trainable
    assert "backbone.visual.transformer.blocks.0.attn.q_proj.base_layer.bias" in trainable
    assert "backbone.visual.transformer.blocks.0.attn.q_proj.base_layer.weight" not in trainable
    # the last block's LoRA matrices stay LoRA's; its (renamed) base weights join via partial tuning
    model = TransferModel(tiny_backbone("tiny-clip"), [Lora(), PartialTuning("last_blocks", k=1)], num_frames=4)
    trainable = {n for n, _ in model.trainable_parameters()}
    assert _lora_names(model) <= trainable
    assert "backbone.visual.transformer.blocks.1.attn.q_proj.base_layer.weight" in trainable
    assert "backbone.visual.transformer.blocks.0.attn.q_proj.base_layer.weight" not in trainable
    with pytest.raises(TransferCompositionError, match="list lora before partial_tuning"):
        TransferModel(tiny_backbone("tiny-clip"), [PartialTuning("biases"), Lora()], num_frames=4)
