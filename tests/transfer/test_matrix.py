"""Every registered strategy × one tiny backbone per design and family (CLIP, SigLIP,
EVA-CLIP), through the backbone contract only: forward and backward on clips, exactly the
declared parameters get gradients, frozen weights stay bit-identical through an optimizer step,
the delta reloads to the same outputs, and the export (LoRA merged) gives the same outputs as
the model it came from. Every family so far offers every strategy what it needs; a backbone
that does not (no text encoder, attention bound to positions) makes the strategies that need
it refuse, naming themselves and the family."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidlift.backbones import CLIP, get_arch
from vidlift.backbones.contract import BackboneCapabilityError, TowerBlock
from vidlift.engine.optim import transfer_param_groups
from vidlift.transfer import (
    STRATEGIES,
    DeltaMismatchError,
    TransferCompositionError,
    TransferModel,
    export_model,
    load_delta,
    load_exported,
    save_delta,
)

from .conftest import MATRIX_ARCHS, clips, perturb, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]
FRAMES = 4
CASES = [(name, arch) for name in sorted(STRATEGIES) for arch in MATRIX_ARCHS]
# Defaults that do not fit the tiny models: CoOp's 16 context vectors fill a 16-token context.
TINY = {"coop": {"n_ctx": 4}}


def _build(name: str, arch: str) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(arch), [STRATEGIES[name](**TINY.get(name, {}))], num_frames=FRAMES)


def _loss(model: TransferModel, video: torch.Tensor) -> torch.Tensor:
    out = model.encode_video(video)
    logits = model.logits(out, model.encode_classes(CLASSES))
    loss = F.cross_entropy(logits, torch.tensor([0, 2]))
    # what a recognition step passes on (distillation's teacher scores the same class texts)
    return loss + sum(model.auxiliary_losses(out, logits=logits, pixels=video, class_texts=CLASSES).values())


def _outputs(model: TransferModel, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        out = model.encode_video(video)
        return out.embedding, model.logits(out, model.encode_classes(CLASSES))


@pytest.mark.parametrize("name,arch", CASES)
def test_declared_parameters_train_and_nothing_else(name, arch):
    model = _build(name, arch)
    report = model.parameter_report()
    assert report.trainable > 0 or name in ("mean_pool", "distillation")  # these two train nothing themselves
    # The report's insertions account for every trainable parameter, once.
    assert sum(i.parameters for i in report.insertions) == report.trainable
    perturb(model, std=0.05)
    model.train()
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    loss = _loss(model, clips(2, FRAMES))
    assert torch.isfinite(loss)
    if report.trainable == 0:
        return
    loss.backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}: declared {n} got no gradient"
            assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"{name}: zero gradient for {n}"
        else:
            assert p.grad is None, f"{name}: undeclared {n} got a gradient"
    opt = torch.optim.AdamW(transfer_param_groups(model, 1e-2, weight_decay=0.1))
    opt.step()
    for n, p in model.named_parameters():
        if n in frozen_before:
            assert torch.equal(p, frozen_before[n]), f"{name}: frozen {n} changed"


@pytest.mark.parametrize("name,arch", CASES)
def test_delta_roundtrip_and_export(name, arch, tmp_path):
    model = _build(name, arch)
    perturb(model, std=0.05)  # as if trained
    video = clips(2, FRAMES, seed=3)
    emb, logits = _outputs(model, video)

    path = save_delta(model, tmp_path / "delta.safetensors")
    assert path.with_suffix(".json").is_file()
    again = load_delta(path, tiny_backbone(arch))
    emb2, logits2 = _outputs(again, video)
    assert torch.equal(emb, emb2) and torch.equal(logits, logits2)
    with pytest.raises(DeltaMismatchError, match="was trained on backbone"):
        load_delta(path, tiny_backbone(arch, seed=1))

    exported = load_exported(export_model(model, tmp_path / "export"))
    exported.tokenizer = model.tokenizer  # the toy tokenizer has no files to export
    emb3, logits3 = _outputs(exported, video)
    torch.testing.assert_close(emb3, emb, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits3, logits, atol=1e-4, rtol=1e-5)


# -- a backbone that lacks capabilities -------------------------------------------------------
class _LendsNoAttention(TowerBlock):
    """A block whose attention is bound to positions (as RoPE would be, were it not exact along
    time): it cannot be run along another axis, copied for one, or give q / k outside its tower."""

    def __init__(self, block: nn.Module, family: str) -> None:
        self.block, self.family, self.hooks = block, family, block.hooks

    @property
    def num_heads(self) -> int:
        return self.block.num_heads

    def attend_sequence(self, x, who):
        raise BackboneCapabilityError(who, self.family, "its attention run along another axis")

    def attention_query_key(self, x, who):
        raise BackboneCapabilityError(who, self.family, "its attention's queries and keys")

    def attention_copy(self, who):
        raise BackboneCapabilityError(who, self.family, "a copy of its attention")


class _ImageOnly(CLIP):
    """An image encoder with no text encoder whose blocks lend no attention, and which builds
    no smaller tower of its design (the contract's default)."""

    family = "image-only"

    @property
    def text_encoder(self):
        return None

    def vision_block(self, index: int) -> TowerBlock:
        return _LendsNoAttention(super().vision_block(index), self.family)

    def image_tower_like(self, width, layers, heads, who):
        return super(CLIP, self).image_tower_like(width, layers, heads, who)


# strategy -> the capability its refusal names, on the image-only backbone
REFUSES = {
    "aim": "along another axis", "divided_st": "copy of its attention", "evl": "queries and keys",
    "tower_compression": "image tower of its own design", "distillation": "a text encoder", "coop": "a text encoder",
    "full_finetune": "a text encoder", "xclip_prompt": "a text encoder",
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_strategy_refuses_a_backbone_that_lacks_what_it_needs(name):
    torch.manual_seed(0)
    backbone = dataclasses.replace(tiny_backbone("tiny-clip"), model=_ImageOnly(get_arch("tiny-clip")).eval())
    build = lambda: TransferModel(backbone, [STRATEGIES[name](**TINY.get(name, {}))], num_frames=FRAMES)  # noqa: E731
    if name in REFUSES:
        with pytest.raises((BackboneCapabilityError, TransferCompositionError)) as info:
            build()
        message = str(info.value)
        assert name in message and "image-only" in message and REFUSES[name] in message, message
        return
    model = build()  # the others need nothing the image-only backbone lacks: they train on video alone
    perturb(model, std=0.05)
    model.train()
    out = model.encode_video(clips(2, FRAMES))
    assert out.embedding.shape == (2, model.embed_dim)
    if model.parameter_report().trainable:  # mean_pool trains nothing
        (out.embedding.square().mean() + sum(model.auxiliary_losses(out).values())).backward()
    for n, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, f"{name}: {n}"
    with pytest.raises(BackboneCapabilityError, match="text encoding needs a text encoder, which the image-only"):
        model.encode_classes(CLASSES)


# -- hyper-parameter validation -------------------------------------------------------------
BAD = [
    ("distillation", {"weight": -1.0}, "weight"),
    ("distillation", {"temperature": 0.0}, "temperature"),
    ("distillation", {"loss": "mse"}, "loss"),
    ("distillation", {"teacher": 3}, "teacher"),
    ("tower_compression", {"cosine_weight": 0.0, "kl_weight": 0.0}, "all 0"),
    ("tower_compression", {"kl_weight": -1.0}, "kl_weight"),
    ("tower_compression", {"logit_temperature": 0.0}, "logit_temperature"),
    ("tower_compression", {"layers": 0}, "layers"),
    ("temporal_transformer", {"layers": 0}, "layers"),
    ("temporal_transformer", {"heads": 0}, "heads"),
    ("temporal_transformer", {"max_frames": -1}, "max_frames"),
    ("temporal_transformer", {"init_from_text": "yes"}, "init_from_text"),
    ("temporal_transformer", {"normalize_frames": 1}, "normalize_frames"),
    ("mean_pool", {"normalize_frames": "yes"}, "normalize_frames"),
    ("temporal_conv", {"kernel_size": 2}, "kernel_size"),
    ("temporal_conv", {"kernel_size": 0}, "kernel_size"),
    ("temporal_conv", {"hidden": 0}, "hidden"),
    ("evl", {"layers": 0}, "layers"),
    ("evl", {"heads": -2}, "heads"),
    ("evl", {"mlp_factor": 0.0}, "mlp_factor"),
    ("evl", {"mlp_dropout": 1.0}, "mlp_dropout"),
    ("evl", {"cls_dropout": -0.1}, "cls_dropout"),
    ("r2_tuning", {"layers": 0}, "layers"),
    ("r2_tuning", {"dims": 100}, "divisible"),
    ("r2_tuning", {"heads": 0}, "heads"),
    ("r2_tuning", {"dropout": 1.5}, "dropout"),
    ("full_finetune", {"layer_decay": 0.0}, "layer_decay"),
    ("full_finetune", {"layer_decay": 1.5}, "layer_decay"),
    ("full_finetune", {"new_module_lr_scale": 0}, "new_module_lr_scale"),
    ("full_finetune", {"towers": ("text",)}, "towers"),
    ("full_finetune", {"freeze_token_embedding": None}, "freeze_token_embedding"),
    ("partial_tuning", {"k": 0}, "k must be"),
    ("partial_tuning", {"k": True}, "k must be"),
    ("partial_tuning", {"k": 1.5}, "k must be"),
    ("partial_tuning", {"subset": "heads"}, "subset"),
    ("xclip", {"mit_layers": 0}, "mit_layers"),
    ("xclip", {"train_backbone": "no"}, "train_backbone"),
    ("divided_st", {"blocks": 0}, "blocks"),
    ("divided_st", {"time_embed": 1}, "time_embed"),
    ("divided_st", {"drop_path": 1.0}, "drop_path"),
    ("adaptformer", {"bottleneck": 0}, "bottleneck"),
    ("adaptformer", {"scale": 0.0}, "scale"),
    ("adaptformer", {"dropout": 1.0}, "dropout"),
    ("st_adapter", {"bottleneck": 0}, "bottleneck"),
    ("st_adapter", {"kernel": (2, 1, 1)}, "kernel"),
    ("st_adapter", {"kernel": (3, 1)}, "kernel"),
    ("st_adapter", {"kernel": (3, -1, 1)}, "kernel"),
    ("st_adapter", {"blocks": 0}, "blocks"),
    ("st_adapter", {"position": "ffn"}, "position"),
    ("st_adapter", {"pooling": "mean"}, "pooling"),
    ("aim", {"mlp_ratio": 0.0}, "mlp_ratio"),
    ("aim", {"scale": -0.5}, "scale"),
    ("aim", {"drop_path": -0.1}, "drop_path"),
    ("lora", {"r": 0}, "r \\(the LoRA rank\\)"),
    ("lora", {"r": True}, "r \\(the LoRA rank\\)"),
    ("lora", {"alpha": 0}, "alpha"),
    ("lora", {"dropout": 1.0}, "dropout"),
    ("lora", {"targets": ("qkv",)}, "targets"),
    ("coop", {"n_ctx": 0}, "n_ctx"),
    ("coop", {"n_ctx": True}, "n_ctx"),
    ("coop", {"init": ""}, "init"),
    ("vpt", {"num_tokens": 0}, "num_tokens"),
    ("vpt", {"depth": "middle"}, "depth"),
    ("vpt", {"dropout": -0.1}, "dropout"),
    ("xclip_prompt", {"layers": 0}, "layers"),
    ("xclip_prompt", {"alpha": float("nan")}, "alpha"),
]


@pytest.mark.parametrize("name,kw,field", BAD, ids=[f"{n}-{'-'.join(kw)}" for n, kw, _ in BAD])
def test_bad_hyperparameters_are_refused_when_the_strategy_is_built(name, kw, field):
    # a ValueError that names the strategy and the field, before any backbone is involved
    with pytest.raises(ValueError, match=f"^{name}: .*{field}"):
        STRATEGIES[name](**kw)


def test_every_strategy_with_hyperparameters_has_a_bad_value_case():
    covered = {n for n, _, _ in BAD}
    assert covered == {n for n, cls in STRATEGIES.items() if dataclasses.fields(cls)}
    for name, cls in STRATEGIES.items():  # the defaults pass, and survive a JSON round trip
        s = cls(**TINY.get(name, {}))
        assert cls(**json.loads(json.dumps(s.hyperparameters()))) == s, name
