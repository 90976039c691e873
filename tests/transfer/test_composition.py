"""Strategies compose where meaningful (and the composition trains, saves, reloads and
exports like a single strategy); combinations that make no sense stop with a clear error."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidlift.cli import main
from vidlift.transfer import (
    STRATEGIES, TransferCompositionError, TransferModel, export_model, get_strategy, load_delta, load_exported,
    save_delta,
)

from .conftest import clips, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]


def _compose(*specs, arch="tiny-clip"):
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(arch), [get_strategy(n, **kw) for n, kw in specs], num_frames=4)


def _step(model):
    model.train()
    out = model.encode_video(clips(2, 4))
    loss = F.cross_entropy(model.logits(out, model.encode_classes(CLASSES)), torch.tensor([1, 2]))
    loss = loss + sum(model.auxiliary_losses(out).values())
    loss.backward()
    return {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


@pytest.mark.parametrize("arch", ["tiny-clip", "tiny-siglip"])
def test_lora_with_temporal_transformer_trains_both_and_merges(arch, tmp_path):
    model = _compose(("lora", {}), ("temporal_transformer", {"layers": 1}), arch=arch)
    names = {n for n, _ in model.trainable_parameters()}
    assert any(".lora_A." in n for n in names) and any(n.startswith("roles.video_head.") for n in names)
    assert not any(n.endswith("q_proj.base_layer.weight") for n in names)
    with torch.no_grad():
        for n, p in model.trainable_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    graded = _step(model)
    assert any("lora_" in n for n in graded) and any(n.startswith("roles.video_head.") for n in graded)
    model.zero_grad()
    model.eval()
    video = clips(2, 4, seed=5)
    with torch.no_grad():
        before = model.encode_video(video).embedding
    again = load_delta(save_delta(model, tmp_path / "d.safetensors"), tiny_backbone(arch))
    with torch.no_grad():
        assert torch.equal(again.eval().encode_video(video).embedding, before)
    exported = load_exported(export_model(model, tmp_path / "export"))
    assert exported.strategies[0].name == "temporal_transformer" and len(exported.strategies) == 1  # LoRA merged
    with torch.no_grad():
        torch.testing.assert_close(exported.eval().encode_video(video).embedding, before, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pair", [("coop", "adaptformer"), ("vpt", "st_adapter"), ("coop", "evl"),
                                  ("vpt", "aim"), ("partial_tuning", "temporal_conv"), ("lora", "divided_st")])
def test_meaningful_pairs_compose_and_each_part_trains(pair):
    kw = {"coop": {"n_ctx": 4}}
    model = _compose(*[(n, kw.get(n, {})) for n in pair])
    with torch.no_grad():  # move zero-initialised parts off zero
        for _, p in model.trainable_parameters():
            p.add_(0.05 * torch.randn_like(p))
    graded = _step(model)
    owners = {i.strategy for i in model.insertions}
    assert owners == set(pair)
    assert graded == {n for n, _ in model.trainable_parameters()}


@pytest.mark.parametrize("pair,message", [
    (("evl", "lora"), "reads a frozen backbone"),
    (("r2_tuning", "adaptformer"), "reads a frozen backbone"),
    (("distillation", "vpt"), "reads a frozen backbone"),
    (("full_finetune", "lora"), "cannot be combined"),
    (("partial_tuning", "full_finetune"), "cannot be combined"),
    (("temporal_transformer", "evl"), "both provide the video head"),
    (("xclip", "mean_pool"), "both provide the video head"),
    (("coop", "coop"), "listed twice"),
])
def test_nonsense_combinations_are_refused(pair, message):
    kw = {"coop": {"n_ctx": 4}}
    with pytest.raises(TransferCompositionError, match=message):
        _compose(*[(n, kw.get(n, {})) for n in pair])


def test_two_strategies_training_the_same_weight_are_refused():
    with pytest.raises(TransferCompositionError, match="both train"):
        _compose(("xclip", {"train_backbone": True}), ("partial_tuning", {"subset": "norms"}))


def test_transfers_command_lists_every_strategy_and_counts(capsys):
    assert main(["transfers"]) == 0
    out = capsys.readouterr().out
    for name, cls in STRATEGIES.items():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert cls.family in line and cls().root in line
        assert f"  {name}: " in out  # its defaults
    assert main(["transfers", "--backbone", "random:tiny-clip", "--strategy", "lora", "--set", "r=2", "--json"]) == 0
    out = capsys.readouterr().out
    # r=2 on q and v of 2 blocks of width 64: 2 * 2 * 2 * (64 + 64) = 1,024 parameters.
    assert '"trainable": 1024' in out
    assert main(["transfers", "--backbone", "random:tiny-clip", "--strategy", "evl", "--strategy", "lora"]) == 2
    assert "reads a frozen backbone" in capsys.readouterr().err
