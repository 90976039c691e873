"""Strategies compose where meaningful (and the composition trains, saves, reloads and
exports like a single strategy); combinations that make no sense stop with a clear error."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidlift.cli import main
from vidlift.transfer import (
    STRATEGIES,
    TransferCompositionError,
    TransferModel,
    export_model,
    get_strategy,
    load_delta,
    load_exported,
    save_delta,
)

from .conftest import clips, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]


def _compose(*specs, arch="tiny-clip"):
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(arch), [get_strategy(n, **kw) for n, kw in specs], num_frames=4)


def _step(model):
    model.train()
    video = clips(2, 4)
    out = model.encode_video(video)
    text = model.encode_classes(CLASSES)
    logits = model.logits(out, text)
    loss = F.cross_entropy(logits, torch.tensor([1, 2]))
    loss = loss + sum(model.auxiliary_losses(out, text=text, logits=logits, pixels=video, class_texts=CLASSES).values())
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


@pytest.mark.parametrize("arch", ["tiny-clip", "tiny-siglip"])
@pytest.mark.parametrize("pair", [("coop", "adaptformer"), ("vpt", "st_adapter"), ("coop", "evl"),
                                  ("vpt", "aim"), ("partial_tuning", "temporal_conv"), ("lora", "divided_st"),
                                  ("vpt", "xclip_prompt"), ("xclip", "xclip_prompt"), ("coop", "r2_tuning"),
                                  ("tower_compression", "temporal_transformer")])
def test_meaningful_pairs_compose_and_each_part_trains(pair, arch):
    kw = {"coop": {"n_ctx": 4}}
    model = _compose(*[(n, kw.get(n, {})) for n in pair], arch=arch)
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
    (("tower_compression", "vpt"), "reads a frozen backbone"),
    (("lora", "distillation"), "distillation: list it before lora"),
    (("full_finetune", "lora"), "cannot be combined"),
    (("partial_tuning", "full_finetune"), "cannot be combined"),
    (("temporal_transformer", "evl"), "both provide the video head"),
    (("xclip", "mean_pool"), "both provide the video head"),
    (("coop", "coop"), "listed twice"),
    (("tower_compression", "xclip_prompt"), "xclip_prompt reads the frozen image tower"),
    (("xclip_prompt", "tower_compression"), "xclip_prompt reads the frozen image tower"),
    (("tower_compression", "evl"), "evl reads the frozen image tower's intermediate tokens"),
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


def test_transfers_command_checks_set_keys_and_loads_the_backbone_once(capsys, monkeypatch):
    import json

    import vidlift.backbones

    loads = []
    real = vidlift.backbones.load_backbone

    def counting(spec, *a, **kw):
        loads.append(spec)
        return real(spec, *a, **kw)

    monkeypatch.setattr(vidlift.backbones, "load_backbone", counting)
    # an unknown key names the strategy and its fields, with or without a backbone
    for extra in ([], ["--backbone", "random:tiny-clip"]):
        assert main(["transfers", "--strategy", "lora", "--set", "rank=2", *extra]) == 2
        err = capsys.readouterr().err
        assert "lora has no hyper-parameter 'rank'" in err and "lora takes r, alpha, dropout, targets, towers" in err
    assert main(["transfers", "--strategy", "lora", "--strategy", "temporal_conv", "--set", "depth=2"]) == 2
    err = capsys.readouterr().err
    assert "none of lora, temporal_conv" in err and "temporal_conv takes kernel_size, hidden" in err
    assert main(["transfers", "--strategy", "lora", "--set", "coop.n_ctx=2"]) == 2
    assert "'coop' is not among the chosen strategies" in capsys.readouterr().err
    assert main(["transfers", "--strategy", "lora", "--set", "r=0"]) == 2  # a bad value: the strategy's own check
    assert "lora: r (the LoRA rank) must be a positive integer" in capsys.readouterr().err
    assert main(["transfers", "--strategy", "loraa"]) == 2
    assert "unknown transfer strategy 'loraa'" in capsys.readouterr().err
    assert loads == []  # every check above fails before a backbone is loaded

    # one strategy, --json: pure JSON, one backbone load
    assert main(["transfers", "--backbone", "random:tiny-clip", "--strategy", "lora", "--set", "r=2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["trainable"] == 1024 and loads == ["random:tiny-clip"]
    # a composition, --json: per-strategy and total counts; STRATEGY.FIELD scopes a key
    loads.clear()
    assert main(["transfers", "--backbone", "random:tiny-clip", "--strategy", "lora", "--strategy",
                 "temporal_transformer", "--set", "lora.r=2", "--set", "layers=1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out["strategies"]] == ["lora", "temporal_transformer"]
    assert out["strategies"][0]["trainable"] == 1024 and out["strategies"][0]["defaults"]["r"] == 2
    assert out["strategies"][1]["defaults"]["layers"] == 1
    assert out["trainable"] == sum(r["trainable"] for r in out["strategies"]) == sum(
        i["parameters"] for i in out["insertions"])
    assert loads == ["random:tiny-clip"]
    # the whole list with counts: still one load (each model gets a copy); tiny-ilfm's
    # 32-token text context fits CoOp's default 16 vectors
    loads.clear()
    assert main(["transfers", "--backbone", "random:tiny-ilfm", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(STRATEGIES) and all(r["total"] > 0 for r in rows)
    assert next(r for r in rows if r["name"] == "lora")["trainable"] == 4 * 2 * 8 * (64 + 64)  # r=8, q and v, 4 blocks
    assert loads == ["random:tiny-ilfm"]
