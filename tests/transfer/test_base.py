"""TransferModel mechanics: one backbone per model, hook-site addressing, optimiser groups,
delta file names, and the feature cache keyed on the architecture."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import nn

from vidlift.data.video import SegmentSampler
from vidlift.engine.optim import transfer_param_groups
from vidlift.features.cache import FeatureCache
from vidlift.transfer import Strategy, TransferCompositionError, TransferModel, get_strategy, save_delta

from .conftest import tiny_backbone


def test_a_backbone_serves_one_model_even_after_a_failed_build():
    bb = tiny_backbone()
    TransferModel(bb, [get_strategy("aim")], num_frames=4)
    with pytest.raises(TransferCompositionError, match="already belongs to a TransferModel"):
        TransferModel(bb, [get_strategy("st_adapter")], num_frames=4)
    broken = tiny_backbone()
    with pytest.raises(TransferCompositionError):
        TransferModel(broken, [get_strategy("aim"), get_strategy("evl")], num_frames=4)
    with pytest.raises(TransferCompositionError, match="load a fresh one"):
        TransferModel(broken, [get_strategy("mean_pool")], num_frames=4)


@dataclass
class _LastBlockProbe(Strategy):
    name: ClassVar[str] = "probe_test"
    family: ClassVar[str] = "adapter"
    paper: ClassVar[str] = "test"
    trains_backbone: ClassVar[bool] = True

    def apply(self, model):
        class Scale(nn.Module):
            def __init__(self):
                super().__init__()
                self.gain = nn.Parameter(torch.ones(1))
                self.prompts = nn.Parameter(torch.zeros(2, 3))
                self.weight = nn.Parameter(torch.zeros(3, 3))

            def forward(self, x, ctx):
                return x * self.gain + 0 * (self.prompts.sum() + self.weight.sum())

        model.insert("visual.blocks.-1.mlp_out", Scale())


def test_negative_block_index_and_no_decay_for_tokens():
    model = TransferModel(tiny_backbone(), [_LastBlockProbe()], num_frames=4)
    assert len(model.backbone.visual.blocks[-1].hooks.sites["mlp_out"]) == 1
    assert len(model.backbone.visual.blocks[0].hooks.sites["mlp_out"]) == 0
    groups = transfer_param_groups(model, 1e-3, weight_decay=0.1)
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    hook = model.backbone.visual.blocks[-1].hooks.sites["mlp_out"][0]
    assert decay[id(hook.weight)] == 0.1  # a matrix decays
    assert decay[id(hook.prompts)] == 0.0 and decay[id(hook.gain)] == 0.0  # tokens and gains do not


def test_delta_file_name_keeps_dots(tmp_path):
    model = TransferModel(tiny_backbone(), [get_strategy("temporal_conv")], num_frames=4)
    path = save_delta(model, tmp_path / "epoch.10")
    assert path.name == "epoch.10.safetensors" and (tmp_path / "epoch.10.json").is_file()


def test_cache_key_covers_the_architecture(tmp_path):
    cache = FeatureCache(tmp_path)
    a, b = tiny_backbone(), tiny_backbone()
    b.model.cfg = b.model.cfg.replace(vision=dataclasses.replace(b.model.cfg.vision, act="quick_gelu"))
    assert a.meta.weights_sha256 == b.meta.weights_sha256
    assert cache.directory(a, SegmentSampler(4)) != cache.directory(b, SegmentSampler(4))


def test_any_contract_backbone_and_nothing_else():
    bb = tiny_backbone()
    with pytest.raises(TypeError, match="VisionLanguageBackbone, got Linear"):
        TransferModel(dataclasses.replace(bb, model=nn.Linear(2, 2)))
    with pytest.raises(TypeError, match="from load_backbone"):
        TransferModel(bb.model)


def test_learning_rate_and_weight_decay_per_parameter():
    # What an optimiser asks the model: the strategies' lr multipliers, and which tensors skip decay
    # (vectors; tokens of added modules by name; the backbone's tables as the backbone names them).
    model = TransferModel(tiny_backbone(), [get_strategy("full_finetune", layer_decay=0.5), get_strategy("vpt")],
                          num_frames=4)
    params = dict(model.named_parameters())
    block_q = "backbone.visual.transformer.blocks.1.attn.q_proj.weight"
    prompts = "backbone.visual.hooks.sites.embed.0.prompts"
    assert model.lr_scale(block_q) == 0.5 and model.lr_scale("backbone.visual.pos_embed") == 0.5**3
    assert model.lr_scale(prompts) == 10.0 and model.is_added(prompts) and not model.is_added(block_q)
    assert not model.no_weight_decay(block_q, params[block_q])
    for name in (prompts, "backbone.visual.pos_embed", "backbone.text.token_embedding.weight",
                 "backbone.visual.transformer.blocks.1.attn.q_proj.bias", "backbone.logit_scale"):
        assert model.no_weight_decay(name, params[name]), name
    groups = transfer_param_groups(model, 1.0, weight_decay=0.1)
    where = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert where[id(params[block_q])] == (0.5, 0.1) and where[id(params[prompts])] == (10.0, 0.0)
