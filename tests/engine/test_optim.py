"""The one optimiser and schedule (vidlift.engine.optim), as the engine and the tiny-ILFM
pretraining use it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vidlift.engine.optim import (
    is_gain_or_bias,
    param_groups,
    warmup_cosine,
    warmup_cosine_schedule,
    warmup_steps_of,
)


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(10, 4)
        self.pos_embed = nn.Parameter(torch.zeros(5, 4))
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.norm = nn.LayerNorm(4)
        self.logit_scale = nn.Parameter(torch.tensor(1.0))


def test_param_groups_rates_and_decay_per_parameter():
    model = Toy()
    groups = param_groups(model.named_parameters(), lr=1e-3, weight_decay=0.1,
                          lr_scale=lambda n: 0.5 if n.startswith("blocks.0.") else 1.0,
                          no_decay=lambda n, p: p.ndim < 2 or n in ("token_embedding.weight", "pos_embed"))
    rule = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    want = {
        "token_embedding.weight": (1e-3, 0.0), "pos_embed": (1e-3, 0.0),  # tables: no decay
        "blocks.0.weight": (5e-4, 0.1), "blocks.0.bias": (5e-4, 0.0),
        "blocks.1.weight": (1e-3, 0.1), "blocks.1.bias": (1e-3, 0.0),
        "norm.weight": (1e-3, 0.0), "norm.bias": (1e-3, 0.0), "logit_scale": (1e-3, 0.0),
    }
    assert {n: rule[id(p)] for n, p in model.named_parameters()} == want
    # One group per (rate, decay), in order of first appearance; parameters keep their order.
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [(1e-3, 0.0), (5e-4, 0.1), (5e-4, 0.0), (1e-3, 0.1)]
    assert groups[0]["params"] == [model.pos_embed, model.logit_scale, model.token_embedding.weight,
                                   model.blocks[1].bias, model.norm.weight, model.norm.bias]


def test_no_decay_rules():
    p2 = torch.zeros(3, 3)
    # The default (pretraining's and task heads') rule: only gains, biases and scalars. The
    # transfer's rule for tables is TransferModel.no_weight_decay (tests/transfer/test_base.py).
    assert not is_gain_or_bias("text.token_embedding.weight", p2) and is_gain_or_bias("logit_scale", torch.tensor(1.0))


def test_warmup_then_cosine_to_the_floor():
    f = warmup_cosine(total_steps=10, warmup_steps=4, min_lr_ratio=0.1)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0 and f(10) == pytest.approx(0.1) and f(50) == pytest.approx(0.1)
    assert f(7) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(f(s) > f(s + 1) for s in range(4, 10))
    assert warmup_cosine(10, 0)(0) == 1.0  # no warm-up: the full rate from the first step
    assert warmup_steps_of(200, warmup_steps=7) == 7 and warmup_steps_of(200, warmup_ratio=0.1) == 20
    assert warmup_steps_of(8, warmup_ratio=0.1) == 1  # rounded up: a ratio never means no warm-up


def test_schedule_steps_every_group():
    a, b = nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=1.0)
    sched = warmup_cosine_schedule(opt, total_steps=4, warmup_steps=2)
    seen = []
    for _ in range(5):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert seen[0] == pytest.approx([0.5, 0.05]) and seen[1] == pytest.approx([1.0, 0.1])
    assert seen[4] == pytest.approx([0.0, 0.0], abs=1e-12)


def test_pretraining_optimiser_is_clips():
    """The tiny-ILFM recipe's AdamW: decay on every matrix (token and position tables included),
    none on gains, biases and the logit scale; warm-up then cosine to min_lr (the shipped
    checkpoint was trained so; its first losses are unchanged by the move to this module)."""
    from vidlift.backbones import CLIP, get_arch
    from vidlift.synthetic.pretrain import Recipe, build_optimizer

    torch.manual_seed(0)
    model = CLIP(get_arch("tiny-clip"))
    recipe = Recipe(steps=10, warmup_steps=2, lr=3e-3, min_lr=3e-5, weight_decay=0.1)
    opt, sched = build_optimizer(model, recipe)
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        assert decay[id(p)] == (0.1 if p.ndim >= 2 else 0.0), name
    assert {g["initial_lr"] for g in opt.param_groups} == {3e-3}
    assert sched.lr_lambdas[0](0) == 0.5 and sched.lr_lambdas[0](10) == pytest.approx(0.01)
