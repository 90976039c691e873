"""Every registered strategy on one tiny backbone per design and family (CLIP, SigLIP,
EVA-CLIP) along the axes a training run varies: a 1-frame clip, batch size 1, a clip length
other than the one the model was built for, activation (gradient) checkpointing, and a
bfloat16 backbone. Each check is a few tiny forward / backward passes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidlift.transfer import STRATEGIES, TransferModel
from vidlift.transfer.frozen import tower_distillation_loss

from .conftest import MATRIX_ARCHS, clips, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]
FRAMES = 4
NAMES = sorted(STRATEGIES)
CASES = [(name, arch) for name in NAMES for arch in MATRIX_ARCHS]
# Defaults that do not fit the tiny models: CoOp's 16 context vectors fill a 16-token context.
TINY = {"coop": {"n_ctx": 4}}
# Exact comparisons between two runs need the heads' dropout off (EVL, R² default to 0.5).
NO_DROPOUT = {"evl": {"mlp_dropout": 0.0, "cls_dropout": 0.0}, "r2_tuning": {"dropout": 0.0}}


def _build(name: str, arch: str, dtype: torch.dtype | None = None, checkpointing: bool = False,
           **kw) -> TransferModel:
    torch.manual_seed(0)
    bb = tiny_backbone(arch)
    if dtype is not None:
        bb.model.to(dtype)
    if checkpointing:
        bb.model.set_grad_checkpointing(True)
    return TransferModel(bb, [STRATEGIES[name](**{**TINY.get(name, {}), **kw})], num_frames=FRAMES)


def _perturb(model: TransferModel) -> None:
    """Move zero-initialised modules off zero (the same draw for two identical models)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in model.trainable_parameters():
            p.add_((0.05 * torch.randn(p.shape, generator=g)).to(p.dtype))


def _loss(model: TransferModel, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out = model.encode_video(video)
    text = model.encode_classes(CLASSES)
    labels = torch.arange(video.shape[0]) % len(CLASSES)
    logits = model.logits(out, text)
    loss = F.cross_entropy(logits.float(), labels)
    # what a recognition step passes on (distillation's teacher scores the same class texts)
    aux = model.auxiliary_losses(out, text=text, logits=logits, pixels=video, class_texts=CLASSES)
    loss = loss + sum(v.float() for v in aux.values())
    return loss, out.embedding


def _train_step(model: TransferModel, video: torch.Tensor) -> torch.Tensor:
    """One forward / backward in training mode; checks shapes and finite values. -> embedding."""
    _perturb(model)
    model.train()
    loss, emb = _loss(model, video)
    assert emb.shape == (video.shape[0], model.embed_dim)
    assert torch.isfinite(loss) and torch.isfinite(emb.float()).all()
    if model.parameter_report().trainable:
        loss.backward()
        grads = [p.grad for _, p in model.trainable_parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g.float()).all() for g in grads)
    return emb


@pytest.mark.parametrize("name,arch", CASES)
def test_one_frame_clip(name, arch):
    # Built for 4 frames, fed 1: temporal tables are resized (row 0), temporal mixing has
    # nothing to mix, and nothing breaks.
    _train_step(_build(name, arch), clips(2, 1))


@pytest.mark.parametrize("name,arch", CASES)
def test_clip_length_other_than_built_for(name, arch):
    _train_step(_build(name, arch), clips(2, 3))


@pytest.mark.parametrize("name,arch", CASES)
def test_batch_size_one(name, arch):
    model = _build(name, arch)
    video = clips(2, FRAMES, seed=4)
    _train_step(model, video[:1])
    # Clips of a batch are independent at inference: clip 0 alone gives what it gives in a pair.
    model.eval()
    with torch.no_grad():
        text = model.encode_classes(CLASSES)
        one, two = model.encode_video(video[:1]), model.encode_video(video)
        torch.testing.assert_close(one.embedding, two.embedding[:1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.logits(one, text), model.logits(two, text)[:1], atol=1e-4, rtol=1e-5)
    if name == "tower_compression":
        # documented: the in-batch terms (KL over the batch's similarity distribution,
        # relations) are 0 at batch size 1, so only the cosine term is left
        model.train()
        out = model.encode_video(video[:1])
        aux = model.auxiliary_losses(out)["StudentEncoder"]
        cosine_only = tower_distillation_loss(out.features.frames, out.features.teacher, cosine_weight=1.0,
                                              kl_weight=0.0)
        torch.testing.assert_close(aux, cosine_only)


@pytest.mark.parametrize("name,arch", CASES)
def test_gradient_checkpointing_gives_the_same_outputs_and_gradients(name, arch):
    kw = NO_DROPOUT.get(name, {})
    runs = []
    for checkpointing in (False, True):
        model = _build(name, arch, checkpointing=checkpointing, **kw)
        calls = []  # a checkpointed block runs again in the backward pass
        model.backbone.vision_block(0).register_forward_pre_hook(lambda *_, calls=calls: calls.append(1))
        _perturb(model)
        model.train()
        torch.manual_seed(2)  # the same dropout draws (prompt dropout, LoRA dropout) in both runs
        loss, emb = _loss(model, clips(2, FRAMES))
        grads = {}
        if model.parameter_report().trainable:
            loss.backward()
            grads = {n: p.grad for n, p in model.trainable_parameters()}
        if STRATEGIES[name].trains_backbone:  # gradients flow through the blocks: checkpointing acts
            assert len(calls) == (2 if checkpointing else 1), (checkpointing, len(calls))
        runs.append((loss.detach(), emb.detach(), grads))
    (loss0, emb0, g0), (loss1, emb1, g1) = runs
    torch.testing.assert_close(emb1, emb0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss1, loss0, atol=1e-5, rtol=1e-5)
    assert g1.keys() == g0.keys()
    for n in g0:
        assert (g0[n] is None) == (g1[n] is None), n
        if g0[n] is not None:
            torch.testing.assert_close(g1[n], g0[n], atol=1e-5, rtol=1e-4, msg=lambda m, n=n: f"{name}: {n}: {m}")


@pytest.mark.parametrize("name,arch", CASES)
def test_bfloat16_backbone(name, arch):
    # The backbone converted before the strategies apply: every new module and parameter takes
    # its dtype (and device), and a bf16 clip runs forward and backward.
    model = _build(name, arch, dtype=torch.bfloat16)
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert set(dtypes.values()) == {torch.bfloat16}, {n: d for n, d in dtypes.items() if d != torch.bfloat16}
    emb = _train_step(model, clips(2, FRAMES).to(torch.bfloat16))
    assert emb.dtype == torch.bfloat16
