"""Every registered strategy × both tiny backbones (CLIP-like and SigLIP-like): forward and
backward on clips, exactly the declared parameters get gradients, frozen weights stay
bit-identical through an optimizer step, the delta reloads to the same outputs, and the
export (LoRA merged) gives the same outputs as the model it came from."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidlift.transfer import STRATEGIES, DeltaMismatchError, TransferModel, export_model, load_delta, load_exported, save_delta

from .conftest import ARCHS, clips, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]
FRAMES = 4
CASES = [(name, arch) for name in sorted(STRATEGIES) for arch in ARCHS]
# Defaults that do not fit the tiny models: CoOp's 16 context vectors fill a 16-token context.
TINY = {"coop": {"n_ctx": 4}}


def _build(name: str, arch: str) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(arch), [STRATEGIES[name](**TINY.get(name, {}))], num_frames=FRAMES)


def _loss(model: TransferModel, video: torch.Tensor) -> torch.Tensor:
    out = model.encode_video(video)
    loss = F.cross_entropy(model.logits(out, model.encode_classes(CLASSES)), torch.tensor([0, 2]))
    return loss + sum(model.auxiliary_losses(out).values())


def _perturb_trainable(model: TransferModel) -> None:
    """Move zero-initialised modules off zero, so that every trainable tensor sees a gradient."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in model.trainable_parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def _outputs(model: TransferModel, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        out = model.encode_video(video)
        return out.embedding, model.logits(out, model.encode_classes(CLASSES))


@pytest.mark.parametrize("name,arch", CASES)
def test_declared_parameters_train_and_nothing_else(name, arch):
    model = _build(name, arch)
    report = model.parameter_report()
    assert report.trainable > 0 or name == "mean_pool"
    # The report's insertions account for every trainable parameter, once.
    assert sum(i.parameters for i in report.insertions) == report.trainable
    _perturb_trainable(model)
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
    opt = torch.optim.AdamW(model.param_groups(1e-2, weight_decay=0.1))
    opt.step()
    for n, p in model.named_parameters():
        if n in frozen_before:
            assert torch.equal(p, frozen_before[n]), f"{name}: frozen {n} changed"


@pytest.mark.parametrize("name,arch", CASES)
def test_delta_roundtrip_and_export(name, arch, tmp_path):
    model = _build(name, arch)
    _perturb_trainable(model)  # as if trained
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
