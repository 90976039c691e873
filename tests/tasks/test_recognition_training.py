"""Recognition training options: mixup / cutmix with soft targets (loss value, seeding, resume
bit-identical) and ActionCLIP's template ensemble (training draws, the test-time score)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.engine.resume import assert_resume_bit_identical  # noqa: E402
from tests.engine.test_engine import recognition_config  # noqa: E402
from tests.tasks.test_recognition_task import (  # noqa: E402,F401
    TEST_TF,
    TRAIN_TF,
    batch_of,
    kinetics,
    make,
    synth,
)
from vidlift.data.augment import MixupCutmix  # noqa: E402
from vidlift.data.clips import collate_clips  # noqa: E402
from vidlift.tasks.recognition.heads import ClassTextHead, actionclip_kl_on_texts  # noqa: E402
from vidlift.tasks.recognition.prompts import ACTIONCLIP_TEMPLATES  # noqa: E402
from vidlift.tasks.recognition.task import RecognitionTask  # noqa: E402
from vidlift.tasks.recognition.training import batch_generator, soft_target_cross_entropy  # noqa: E402
from vidlift.transfer import get_strategy  # noqa: E402

MIX = {"mixup_alpha": 0.8, "cutmix_alpha": 1.0, "prob": 1.0, "switch_prob": 0.5}


# -- mixup / cutmix ---------------------------------------------------------------------------
def test_soft_target_cross_entropy_by_hand():
    # logits [0, ln 3] -> softmax [1/4, 3/4]; targets [0.4, 0.6]:
    # -(0.4 ln 0.25 + 0.6 ln 0.75) = 0.4 * 1.386294 + 0.6 * 0.287682 = 0.727127
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert soft_target_cross_entropy(logits, torch.tensor([[0.4, 0.6]])).item() == pytest.approx(0.727127, abs=1e-6)
    # one-hot rows: the cross-entropy
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(5, 7, generator=g), torch.tensor([0, 3, 6, 2, 2])
    torch.testing.assert_close(soft_target_cross_entropy(logits, F.one_hot(labels, 7).float()),
                               F.cross_entropy(logits, labels))


def test_mixup_training_step_mixes_with_the_batch_seed(synth):  # noqa: F811
    task, model = make(synth, "linear", mixup=MIX, label_smoothing=0.1, seed=3)
    task.set_epoch(2)
    batch = batch_of(task.dataset("train", TRAIN_TF), 6, epoch=2)
    out = task.training_step(model, batch)
    # by hand: the batch's draw from (seed 3, epoch 2, clips 0..5), targets smoothed by 0.1
    mix = MixupCutmix(14, label_smoothing=0.1, **MIX)
    video, targets = mix(batch["video"], batch["label"], generator=batch_generator(3, 2, batch["index"]))
    assert not torch.equal(video, batch["video"])
    assert targets.sum(1).allclose(torch.ones(6)) and targets.min() >= 0.1 / 14 - 1e-7
    want = soft_target_cross_entropy(task.head(model, model.encode_video(video)), targets)
    assert out.logs["task_loss"] == pytest.approx(float(want.detach()), rel=1e-6)
    assert task.training_step(model, batch).logs["task_loss"] == out.logs["task_loss"]  # reproduces
    task.set_epoch(3)
    assert task.training_step(model, batch).logs["task_loss"] != out.logs["task_loss"]  # a new epoch, a new draw
    # the seed of a batch depends on each of its clips
    assert not torch.equal(torch.randn(3, generator=batch_generator(3, 2, torch.tensor([0, 1]))),
                           torch.randn(3, generator=batch_generator(3, 2, torch.tensor([0, 2]))))
    # ... and is a stream of its own: a batch of clips [5, 1] does not draw clip 5's crop numbers,
    # which VideoClips seeds with (seed, epoch, 5, 1)
    clip = np.random.SeedSequence((3, 2, 5, 1)).generate_state(1, np.uint64)[0] >> np.uint64(1)
    assert not torch.equal(torch.rand(3, generator=batch_generator(3, 2, torch.tensor([5, 1]))),
                           torch.rand(3, generator=torch.Generator().manual_seed(int(clip))))


def test_mixup_config_errors(synth):  # noqa: F811
    with pytest.raises(ValueError, match="mixup needs loss 'ce'"):
        RecognitionTask(kinetics(synth), mixup=MIX, loss="kl")
    with pytest.raises(ValueError, match="mixup.alpha is not a mixup key; keys: mixup_alpha, cutmix_alpha"):
        RecognitionTask(kinetics(synth), head="linear", mixup={"alpha": 0.2})
    with pytest.raises(ValueError, match="recognition: mixup: .*prob must be in"):
        RecognitionTask(kinetics(synth), head="linear", mixup={"prob": 2})
    with pytest.raises(ValueError, match="mixup must be a mapping"):
        RecognitionTask(kinetics(synth), head="linear", mixup=0.8)


def test_resume_with_mixup_is_bit_identical(synth, tmp_path):  # noqa: F811
    base = recognition_config({"recognition": synth}, tmp_path / "full", head="linear", mixup=MIX,
                              label_smoothing=0.1)
    assert_resume_bit_identical(base, tmp_path)


# -- ActionCLIP's templates ---------------------------------------------------------------------
def test_actionclip_templates():
    assert len(ACTIONCLIP_TEMPLATES) == 16 and all(t.count("{}") == 1 for t in ACTIONCLIP_TEMPLATES)
    assert ACTIONCLIP_TEMPLATES[0] == "a photo of action {}" and ACTIONCLIP_TEMPLATES[-1] == "The woman is {}"


class _LogitsAreTexts:
    """A stand-in model whose logits are the 'texts' themselves."""

    def logits(self, video, text):
        return text


def test_ensemble_is_the_mean_of_the_per_template_softmax_by_hand():
    # ActionCLIP test.py: softmax over classes per template, then the mean over templates.
    # template 1 logits [2, 0] -> [e^2 / (e^2 + 1), 1 / (e^2 + 1)] = [0.880797, 0.119203];
    # template 2 logits [0, 0] -> [0.5, 0.5]; mean [0.690399, 0.309601].
    head = ClassTextHead(["a", "b"], templates=["{}", "the {}"])
    head.template_texts = lambda model, cache=False: torch.tensor([[[2.0, 0.0]], [[0.0, 0.0]]])
    probs = head(_LogitsAreTexts(), video=None).softmax(-1)
    torch.testing.assert_close(probs, torch.tensor([[0.690399, 0.309601]]), rtol=0, atol=1e-6)


def test_ensemble_scores_on_a_tiny_model(synth):  # noqa: F811
    templates = ["a clip of {}.", "{}, an action"]
    task, model = make(synth, "zero_shot", prompt_ensemble=templates, test_clips=2)
    test = task.dataset("test", TEST_TF)
    batch = collate_clips([test[i] for i in range(3)])
    scores = task.evaluation_step(model, batch)["scores"]
    with torch.no_grad():
        texts = [model.encode_text(model.tokenize([t.format(c) for c in task.class_texts])) for t in templates]
        per_view = []
        for v in range(2):
            out = model.encode_video(batch["video"][:, v])
            per_view.append(torch.stack([model.logits(out, t).softmax(-1) for t in texts]).mean(0))
    torch.testing.assert_close(scores, torch.stack(per_view).mean(0))
    task.compute_metrics({"scores": scores, "labels": batch["label"]}, "test")
    assert task.head._template_cache is None  # a new evaluation encodes again


def test_template_draws_per_training_clip_reproduce(synth):  # noqa: F811
    task = RecognitionTask(kinetics(synth), frames=4, prompt_ensemble="actionclip", loss="kl", seed=4)
    train = task.dataset("train", TRAIN_TF)
    draws = {(e, i): train[(e, i)]["template"] for e in range(3) for i in range(10)}
    assert all(k == int(np.random.default_rng((4, e, i, 2)).integers(16)) for (e, i), k in draws.items())
    assert len(set(draws.values())) > 4 and draws[(0, 1)] == train[(0, 1)]["template"]
    assert "template" not in task.dataset("val", TEST_TF)[0]  # evaluation ensembles over all 16
    # with loss ce the training texts are the task's prompt: no draws
    assert "template" not in RecognitionTask(kinetics(synth), frames=4, prompt_ensemble="actionclip",
                                             ).dataset("train", TRAIN_TF)[0]


def test_actionclip_kl_on_the_drawn_templates(synth):  # noqa: F811
    torch.manual_seed(0)
    task, model = make(synth, "similarity", [get_strategy("temporal_transformer", layers=1)],
                       prompt_ensemble="actionclip", loss="kl")
    batch = batch_of(task.dataset("train", TRAIN_TF), 6)
    out = task.training_step(model, batch)
    texts = model.encode_text(model.tokenize([ACTIONCLIP_TEMPLATES[k].format(task.class_texts[y])
                                              for y, k in zip(batch["label"].tolist(), batch["template"].tolist())]))
    want = actionclip_kl_on_texts(model, model.encode_video(batch["video"]), texts, batch["label"])
    assert out.logs["task_loss"] == pytest.approx(float(want.detach()), rel=1e-5)
    out.loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith("roles.video_head."))


def test_prompt_ensemble_errors(synth):  # noqa: F811
    with pytest.raises(ValueError, match="prompt_ensemble must be one of actionclip"):
        RecognitionTask(kinetics(synth), prompt_ensemble="clip")
    with pytest.raises(ValueError, match="exactly one"):
        RecognitionTask(kinetics(synth), prompt_ensemble=["a video"])
    for head in ("linear", "text_init"):
        with pytest.raises(ValueError, match="prompt_ensemble needs a head that encodes class texts"):
            RecognitionTask(kinetics(synth), head=head, prompt_ensemble="actionclip")
    with pytest.raises(ValueError, match="class prompt comes from a transfer strategy \\(CoOpPrompt|CoOp"):
        make(synth, "similarity", [get_strategy("coop", n_ctx=4)], prompt_ensemble="actionclip")
