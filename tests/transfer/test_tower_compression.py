"""Tower compression: a student image tower learns the frozen backbone's frame embeddings; the
teacher runs only in training (or is passed in from a cache), the student alone at inference;
the loss vanishes when the student matches the teacher."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidlift.transfer import TransferModel, VideoFeatures
from vidlift.transfer.frozen import TemporalTransformer, TowerCompression, tower_distillation_loss

from .conftest import ARCHS, clips, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]


def _build(strategies, arch="tiny-clip") -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(arch), strategies, num_frames=4)


class _Counter:
    """Counts forward calls of the backbone's image tower (the teacher)."""

    def __init__(self, model: TransferModel) -> None:
        self.calls = 0
        self.handle = model.backbone.visual.register_forward_hook(self._hook)

    def _hook(self, *args) -> None:
        self.calls += 1


@pytest.mark.parametrize("arch", ARCHS)
def test_training_runs_the_teacher_once_and_trains_only_the_student(arch):
    model = _build([TowerCompression()], arch)
    counter = _Counter(model)
    model.train()
    out = model.encode_video(clips(2, 4))
    assert counter.calls == 1
    feats = out.features
    assert feats.frames.shape == feats.teacher.shape == (2, 4, model.embed_dim)
    assert feats.frames.requires_grad and not feats.teacher.requires_grad
    torch.testing.assert_close(feats.teacher, model.backbone.encode_video(clips(2, 4)))
    aux = model.auxiliary_losses(out)
    assert list(aux) == ["StudentEncoder"] and aux["StudentEncoder"] > 0
    loss = F.cross_entropy(model.logits(out, model.encode_classes(CLASSES)), torch.tensor([0, 2]))
    (loss + aux["StudentEncoder"]).backward()
    student = model.roles["frame_encoder"]
    assert {id(p) for _, p in model.trainable_parameters()} == {id(p) for p in student.parameters()}
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert all(p.grad is None for p in model.backbone.parameters())
    assert not model.trains_from_cache


@pytest.mark.parametrize("arch", ARCHS)
def test_inference_runs_the_student_alone(arch):
    model = _build([TowerCompression()], arch).eval()
    counter = _Counter(model)
    with torch.no_grad():
        out = model.encode_video(clips(2, 4))
    assert counter.calls == 0
    assert out.features.teacher is None and model.auxiliary_losses(out) == {}
    assert out.embedding.shape == (2, model.embed_dim)
    student = model.roles["frame_encoder"]
    torch.testing.assert_close(out.embedding, student.encode(clips(2, 4)).detach().mean(1))


def test_teacher_frames_from_a_cache_skip_the_backbone():
    model = _build([TowerCompression()]).train()
    counter = _Counter(model)
    cached = torch.randn(2, 4, model.embed_dim)
    out = model.encode_video(clips(2, 4), teacher=cached)
    assert counter.calls == 0 and torch.equal(out.features.teacher, cached)
    assert model.auxiliary_losses(out)["StudentEncoder"].requires_grad
    model.eval()  # a validation loss at inference: pass the teacher in
    with torch.no_grad():
        out = model.encode_video(clips(2, 4), teacher=cached)
    assert counter.calls == 0 and "StudentEncoder" in model.auxiliary_losses(out)


def test_loss_vanishes_when_the_student_is_the_teacher():
    torch.manual_seed(0)
    t = torch.randn(5, 4, 16)
    all_terms = dict(cosine_weight=1.0, kl_weight=1.0, kl_temperature=0.07, relational_weight=1.0)
    assert tower_distillation_loss(t, t, **all_terms).abs() < 1e-5
    assert tower_distillation_loss(3.0 * t, t, **all_terms).abs() < 1e-5  # cosine terms ignore the scale
    s = torch.randn(5, 4, 16)
    for term in ("cosine_weight", "kl_weight", "relational_weight"):
        only = {k: (1.0 if k == term else 0.0) for k in ("cosine_weight", "kl_weight", "relational_weight")}
        assert tower_distillation_loss(s, t, **only) > 1e-3, term
        assert tower_distillation_loss(t, t, **only).abs() < 1e-5, term
    # the KL target is the teacher's in-batch distribution: a student that keeps each clip but
    # swaps two of them is penalised
    swapped = t[torch.tensor([1, 0, 2, 3, 4])]
    assert tower_distillation_loss(swapped, t, cosine_weight=0.0, kl_weight=1.0) > 1.0
    with pytest.raises(ValueError, match="differ"):
        tower_distillation_loss(s[:, :2], t)


def test_student_configuration():
    model = _build([TowerCompression()], "tiny-clip")
    teacher, student = model.backbone.cfg.vision, model.roles["frame_encoder"].visual.cfg
    assert (student.width, student.layers, student.heads) == (teacher.width // 2, teacher.layers, 1)
    assert (student.patch_size, student.image_size) == (teacher.patch_size, teacher.image_size)
    assert student.class_token and student.pool == "cls"
    model = _build([TowerCompression(width=48, layers=1, heads=3)], "tiny-siglip")
    student = model.roles["frame_encoder"]
    assert (student.visual.cfg.width, student.visual.cfg.layers, student.visual.cfg.heads) == (48, 1, 3)
    assert student.visual.attn_pool is not None and student.visual.num_prefix_tokens == 0  # SigLIP design kept
    assert student.proj.weight.shape == (64, 48)
    # ViT-S/16 from a ViT-B/16 teacher
    from vidlift.backbones import CLIP, get_arch

    teacher = CLIP(get_arch("ViT-B-16"))
    assert TowerCompression().student_size(teacher.vision_width, teacher.vision_depth) == (384, 12, 6)
    student = teacher.image_tower_like(384, 12, 6, who="tower_compression")  # the backbone builds its own design
    assert (student.cfg.width, student.cfg.layers, student.cfg.heads, student.cfg.patch_size) == (384, 12, 6, 16)
    assert TowerCompression(**TowerCompression(width=48).hyperparameters()) == TowerCompression(width=48)


def test_a_few_steps_bring_the_student_closer_to_the_teacher():
    model = _build([TowerCompression(width=32, layers=1)], "tiny-clip").train()
    video = clips(4, 2, seed=7)
    teacher = model.backbone.encode_video(video).detach()
    opt = torch.optim.Adam([p for _, p in model.trainable_parameters()], lr=3e-3)
    losses = []
    for _ in range(8):
        out = model.encode_video(video, teacher=teacher)
        loss = model.auxiliary_losses(out)["StudentEncoder"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_tower_compression_composes_with_a_post_network_head():
    model = _build([TowerCompression(), TemporalTransformer(layers=1)]).train()
    counter = _Counter(model)
    out = model.encode_video(clips(2, 4))
    assert counter.calls == 1 and out.embedding.shape == (2, 32)
    (out.embedding.pow(2).mean() + sum(model.auxiliary_losses(out).values())).backward()
    assert model.roles["video_head"].frame_position_embeddings.grad is not None
    assert all(p.grad is None for p in model.backbone.parameters())


def test_logit_distillation_term():
    # Hinton-style KD on class logits: KL(softmax(z_t / tau) || softmax(z_s / tau)) * tau^2
    torch.manual_seed(0)
    t, s, text = torch.randn(3, 4, 16), torch.randn(3, 4, 16), torch.randn(5, 16)
    only = dict(cosine_weight=0.0, kl_weight=0.0, logit_weight=1.0, logit_temperature=2.0, logit_scale=50.0)
    assert tower_distillation_loss(t, t, text=text, **only).abs() < 1e-6
    value = tower_distillation_loss(s, t, text=text, **only)
    zs = 50.0 * F.normalize(s.mean(1), dim=-1) @ F.normalize(text, dim=-1).t()
    zt = 50.0 * F.normalize(t.mean(1), dim=-1) @ F.normalize(text, dim=-1).t()
    p_t = F.softmax(zt / 2, -1)
    by_hand = (p_t * (p_t.log() - F.log_softmax(zs / 2, -1))).sum(-1).mean() * 4
    torch.testing.assert_close(value, by_hand)
    assert value > 1e-3
    assert tower_distillation_loss(s, t, text=None, **only) == 0  # no text: the term is skipped
    per_video = text.expand(3, -1, -1)  # per-video texts (a text conditioner) give the same value
    torch.testing.assert_close(tower_distillation_loss(s, t, text=per_video, **only), value)


def test_logit_distillation_trains_the_student_through_auxiliary_losses():
    model = _build([TowerCompression(cosine_weight=0.0, kl_weight=0.0, logit_weight=1.0)]).train()
    student = model.roles["frame_encoder"]
    assert student.weights["logit_scale"] == pytest.approx(model.backbone.logit_scale.exp().item())
    out = model.encode_video(clips(2, 4))
    assert model.auxiliary_losses(out) == {}  # the only term needs the texts
    text = model.encode_classes(CLASSES)
    aux = model.auxiliary_losses(out, text=text)["StudentEncoder"]
    assert aux > 0
    aux.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert all(p.grad is None for p in model.backbone.parameters())
    # a student that matches the teacher's frames has nothing left to learn
    same = VideoFeatures(out.features.teacher.clone(), teacher=out.features.teacher)
    assert student.auxiliary_loss(same, text=text).abs() < 1e-6
    # the default loss (cosine + in-batch KL) takes the text keyword and ignores it
    model = _build([TowerCompression()]).train()
    out = model.encode_video(clips(2, 4))
    text = model.encode_classes(CLASSES)
    torch.testing.assert_close(model.auxiliary_losses(out, text=text)["StudentEncoder"],
                               model.auxiliary_losses(out)["StudentEncoder"])


def test_in_batch_terms_vanish_at_batch_size_one():
    torch.manual_seed(0)
    s, t = torch.randn(1, 4, 16), torch.randn(1, 4, 16)
    assert tower_distillation_loss(s, t, cosine_weight=0.0, kl_weight=1.0, relational_weight=1.0).abs() < 1e-6
    assert tower_distillation_loss(s, t, cosine_weight=1.0, kl_weight=0.0) > 0


@pytest.mark.parametrize("kw,field", [
    (dict(cosine_weight=0.0, kl_weight=0.0), "all 0"),
    (dict(cosine_weight=-1.0), "cosine_weight"),
    (dict(logit_weight=-0.5), "logit_weight"),
    (dict(kl_temperature=0.0), "kl_temperature"),
    (dict(logit_temperature=-2.0), "logit_temperature"),
    (dict(width=0), "width"),
    (dict(heads=True), "heads"),
])
def test_tower_compression_hyperparameters_are_checked(kw, field):
    with pytest.raises(ValueError, match=f"tower_compression: .*{field}"):
        TowerCompression(**kw)


@pytest.mark.parametrize("order", ["tower_compression_first", "xclip_prompt_first"])
def test_tower_compression_refuses_a_strategy_that_reads_tokens_at_build_time(order):
    from vidlift.transfer import TransferCompositionError
    from vidlift.transfer.adapted import XClipPrompt

    strategies = [TowerCompression(), XClipPrompt()]
    if order == "xclip_prompt_first":
        strategies.reverse()
    with pytest.raises(TransferCompositionError, match="xclip_prompt reads the frozen image tower"):
        _build(strategies)
