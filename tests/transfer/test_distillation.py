"""The ``distillation`` strategy: a frozen teacher's soft targets (class logits, in-batch
clip-caption similarities, answer distributions) train the transferred model. The loss on
hand-made logits, gradients (the student gets them, the teacher none), the teacher kept out of
parameters, state dicts and deltas, the pristine ILFM copy, and a teacher loaded from a run
folder."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from vidlift.backbones import load_backbone
from vidlift.transfer import TransferCompositionError, TransferModel, load_delta, save_delta
from vidlift.transfer.adapted import AdaptFormer, FullFinetune
from vidlift.transfer.frozen import (
    Distillation,
    KnowledgeDistillation,
    TemporalTransformer,
    distillation_term,
    pearson_distance,
    soft_target_loss,
)

from .conftest import clips, perturb, tiny_backbone

CLASSES = ["red circle", "blue star", "green square"]
KL_34 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)  # KL([3/4, 1/4] ‖ [1/2, 1/2]) = 0.130812…


def _build(strategies, seed: int = 0) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(tiny_backbone(seed=seed), strategies, num_frames=4)


def _kd(model: TransferModel) -> KnowledgeDistillation:
    return model.heads["distillation"]


def _step(model: TransferModel, video: torch.Tensor):
    """A recognition-style step: the student's class logits and the auxiliary losses."""
    out = model.encode_video(video)
    logits = model.logits(out, model.encode_classes(CLASSES))
    return logits, model.auxiliary_losses(out, logits=logits, pixels=video, class_texts=CLASSES,
                                          prompt="a video of {}.")


# -- the loss on hand-made logits ---------------------------------------------------------------
def test_kl_on_hand_made_logits():
    student, teacher = torch.zeros(1, 2), torch.tensor([[math.log(3.0), 0.0]])
    assert soft_target_loss(student, teacher, 1.0).item() == pytest.approx(KL_34, abs=1e-6)
    # τ = 2 on logits twice as large: the same distributions, times τ² = 4
    assert soft_target_loss(student, 2 * teacher, 2.0).item() == pytest.approx(4 * KL_34, abs=1e-6)
    assert soft_target_loss(teacher + 5.0, teacher, 1.0).abs() < 1e-6  # equal up to a constant per row
    # a padded entry (valid False) has probability 0 on both sides, whatever its logits
    padded_s, padded_t = torch.tensor([[0.0, 0.0, 9.0]]), torch.tensor([[math.log(3.0), 0.0, -7.0]])
    valid = torch.tensor([[True, True, False]])
    assert soft_target_loss(padded_s, padded_t, 1.0, valid).item() == pytest.approx(KL_34, abs=1e-6)
    # retrieval: a 2 x 2 clip x caption matrix, both directions summed (TeachCLIP's train.py)
    t = torch.tensor([[math.log(3.0), 0.0], [0.0, math.log(3.0)]])
    assert distillation_term(torch.zeros(2, 2), t, 1.0, "kl", both_directions=True).item() == pytest.approx(
        2 * KL_34, abs=1e-6)
    with pytest.raises(ValueError, match="differ"):
        soft_target_loss(torch.zeros(1, 3), teacher, 1.0)
    with pytest.raises(ValueError, match="temperature must be positive"):
        soft_target_loss(student, teacher, 0.0)


def test_pearson_distance_on_hand_made_logits():
    log = torch.log(torch.tensor([[1.0, 2.0, 3.0]]))  # softmax: [1, 2, 3] / 6
    assert pearson_distance(log, log, 1.0).abs() < 1e-6
    assert pearson_distance(log.flip(-1), log, 1.0).item() == pytest.approx(2.0, abs=1e-6)  # [3, 2, 1] / 6
    # [2, 1, 3] / 6 against [1, 2, 3] / 6: centred (0, -1, 1) / 6 and (-1, 0, 1) / 6, correlation 1/2
    shuffled = torch.log(torch.tensor([[2.0, 1.0, 3.0]]))
    assert pearson_distance(shuffled, log, 1.0).item() == pytest.approx(0.5, abs=1e-6)
    assert distillation_term(shuffled, log, 1.0, "pearson").item() == pytest.approx(0.5, abs=1e-6)


# -- gradients: the student learns from the teacher, the teacher not at all ----------------------
def test_the_student_gets_gradient_from_the_soft_targets_and_the_teacher_none():
    model = _build([Distillation(), TemporalTransformer(layers=1)]).train()
    perturb(model, std=0.05)
    teacher = _kd(model).teacher
    video = clips(2, 4)
    _, aux = _step(model, video)
    assert list(aux) == ["KnowledgeDistillation"] and aux["KnowledgeDistillation"] > 0
    aux["KnowledgeDistillation"].backward()  # the distillation term alone
    head = model.roles["video_head"]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    assert all(p.grad is None for p in model.backbone.parameters())  # the student's backbone is frozen here


def test_at_weight_zero_the_teacher_does_not_run_and_nothing_moves():
    model = _build([Distillation(weight=0.0), TemporalTransformer(layers=1)]).train()
    calls = []
    _kd(model).teacher.backbone.visual.register_forward_hook(lambda *a: calls.append(1))
    head = model.roles["video_head"]
    before = [p.detach().clone() for p in head.parameters()]
    _, aux = _step(model, clips(2, 4))
    assert aux == {} and calls == []
    opt = torch.optim.SGD(head.parameters(), lr=1.0)
    opt.step()  # nothing to step: no gradient reached the head
    assert all(torch.equal(a, b) for a, b in zip(before, head.parameters()))


def test_the_teacher_runs_in_training_only():
    model = _build([Distillation(), TemporalTransformer(layers=1)])
    calls = []
    _kd(model).teacher.backbone.visual.register_forward_hook(lambda *a: calls.append(1))
    model.eval()
    with torch.no_grad():
        _, aux = _step(model, clips(2, 4))
    assert aux == {} and calls == []
    model.train()
    _step(model, clips(2, 4))
    assert calls == [1]


# -- the teacher: an untouched copy, outside the model's parameters and files ---------------------
def test_the_teacher_is_the_untouched_ilfm_while_the_student_changes():
    model = _build([Distillation(), AdaptFormer(), FullFinetune()]).train()
    perturb(model, std=0.1)  # as if trained: the student's backbone and adapters move
    video = clips(2, 4, seed=5)
    logits, _ = _kd(model).teacher_logits(video, class_texts=CLASSES, prompt="a video of {}.")
    plain = TransferModel(tiny_backbone(), [], num_frames=4).eval()
    with torch.no_grad():
        zero_shot = plain.logits(plain.encode_video(video), plain.encode_classes(CLASSES))
    torch.testing.assert_close(logits, zero_shot)
    teacher_keys = set(_kd(model).teacher.backbone.state_dict())
    assert teacher_keys == set(plain.backbone.state_dict())  # no adapter inside the teacher
    with pytest.raises(TransferCompositionError, match="distillation: list it before adaptformer"):
        _build([AdaptFormer(), Distillation()])


def test_the_teacher_is_no_parameter_and_is_not_saved(tmp_path):
    model = _build([Distillation(), TemporalTransformer(layers=1)])
    alone = _build([TemporalTransformer(layers=1)])
    teacher = _kd(model).teacher
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert teacher_ids and not teacher_ids & {id(p) for p in model.parameters()}
    report = model.parameter_report()
    assert (report.total, report.trainable) == (alone.parameter_report().total, alone.parameter_report().trainable)
    assert set(model.state_dict()) == set(alone.state_dict())
    path = save_delta(model, tmp_path / "delta.safetensors")
    from safetensors.torch import load_file

    assert set(load_file(str(path))) == set(load_file(str(save_delta(alone, tmp_path / "alone.safetensors"))))
    again = load_delta(path, tiny_backbone())  # rebuilds a fresh teacher, loads the student
    assert [s.name for s in again.strategies] == ["distillation", "temporal_transformer"]
    video = clips(2, 4)
    with torch.no_grad():
        expected = model.eval().encode_video(video).embedding
        torch.testing.assert_close(again.eval().encode_video(video).embedding, expected)


def _run_folder(tmp_path):
    """A trained run's folder: a temporal transformer on `tiny`, moved off its initialisation."""
    torch.manual_seed(0)
    run = TransferModel(load_backbone("tiny"), [TemporalTransformer(layers=1)], num_frames=4)
    perturb(run, std=0.2)
    folder = tmp_path / "teacher_run"
    folder.mkdir()
    save_delta(run, folder / "delta.safetensors")
    task = {"name": "recognition", "prompt": "a photo of a {}.", "head": "similarity"}
    (folder / "config.yaml").write_text(yaml.safe_dump({"backbone": "tiny", "task": task}))
    return run.eval(), folder


def test_a_teacher_loaded_from_a_run_folder_gives_that_runs_logits(tmp_path):
    run, folder = _run_folder(tmp_path)
    torch.manual_seed(0)
    model = TransferModel(load_backbone("tiny"), [Distillation(teacher=str(folder)), TemporalTransformer(layers=1)],
                          num_frames=4).train()
    kd = _kd(model)
    assert not kd.source.loaded  # loaded when training first needs it
    video = clips(2, 4, size=64, seed=2)
    logits, valid = kd.teacher_logits(video, class_texts=CLASSES, prompt="ignored {}")  # the run's own prompt wins
    run.roles["class_prompt"].template = "a photo of a {}."
    with torch.no_grad():
        expected = run.logits(run.encode_video(video), run.encode_classes(CLASSES))
    assert valid is None and kd.source.loaded
    torch.testing.assert_close(logits, expected)
    assert all(not p.requires_grad for p in kd.teacher.parameters())
    out = model.encode_video(video)
    student = model.logits(out, model.encode_classes(CLASSES))
    aux = model.auxiliary_losses(out, logits=student, pixels=video, class_texts=CLASSES)["KnowledgeDistillation"]
    torch.testing.assert_close(aux, soft_target_loss(student, expected, 1.0))
    # the trained student reloads without its teacher's folder
    path = save_delta(model, tmp_path / "student.safetensors")
    for f in folder.iterdir():
        f.unlink()
    again = load_delta(path, load_backbone("tiny")).train()
    with pytest.raises(FileNotFoundError, match="teacher .* has no config.yaml and no delta.safetensors"):
        _step(again, video)


def test_retrieval_and_qa_scores_of_the_teacher():
    model = _build([Distillation(), TemporalTransformer(layers=1)]).train()
    kd, video = _kd(model), clips(2, 4)
    teacher = kd.teacher
    with torch.no_grad():
        t_out = teacher.encode_video(video)

        def score(i, texts):
            emb = teacher.encode_text(teacher.tokenize(texts))
            return teacher.logits(t_out, emb)[i]

        captions = ["a red circle moves left", "a blue star spins"]
        sims, _ = kd.teacher_logits(video, captions=captions)
        torch.testing.assert_close(sims, torch.stack([score(0, captions), score(1, captions)]))
        per_clip = [["yes", "no", "maybe"], ["left", "right"]]
        logits, valid = kd.teacher_logits(video, candidates=per_clip)
    assert valid.tolist() == [[True, True, True], [True, True, False]]
    torch.testing.assert_close(logits[0], score(0, per_clip[0]))
    torch.testing.assert_close(logits[1, :2], score(1, per_clip[1]))
    # QA's padding: the student's padded column and the teacher's are both left out
    student = torch.zeros(2, 3)
    aux = kd.auxiliary_loss(None, logits=student, pixels=video, candidates=per_clip, valid=valid)
    torch.testing.assert_close(aux, soft_target_loss(student, logits, 1.0, valid))


def test_clear_errors():
    model = _build([Distillation(), TemporalTransformer(layers=1)]).train()
    out = model.encode_video(clips(2, 4))
    with pytest.raises(ValueError, match="no student logits and clip pixels.*grounding and captioning"):
        model.auxiliary_losses(out)
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="exactly one of class_texts, captions, candidates"):
        model.auxiliary_losses(out, logits=logits, pixels=clips(2, 4), class_texts=CLASSES, captions=["a", "b"])
    with pytest.raises(ValueError, match=r"student's logits \(2, 2\) and the teacher's \(2, 3\)"):
        model.auxiliary_losses(out, logits=torch.zeros(2, 2), pixels=clips(2, 4), class_texts=CLASSES)


@pytest.mark.parametrize("kw,field", [
    ({"weight": -1.0}, "weight"), ({"temperature": 0.0}, "temperature"), ({"loss": "mse"}, "loss"),
    ({"teacher": 3}, "teacher"), ({"teacher": ""}, "teacher"),
])
def test_hyperparameters_are_checked(kw, field):
    with pytest.raises(ValueError, match=f"^distillation: {field}"):
        Distillation(**kw)
