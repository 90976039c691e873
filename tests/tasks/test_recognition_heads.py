"""Recognition heads as the papers have them: Text4Vis' frozen classifier (its gradient, its
learning rates, its parameter count at ViT-B/16) and the pre-projection linear classifier with
dropout of AIM / ST-Adapter / EVL (shape, dropout, initialisation, errors)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.tasks.test_recognition_task import TRAIN_TF, T, batch_of, kinetics, make, synth  # noqa: E402,F401
from tests.transfer.conftest import tiny_backbone  # noqa: E402
from vidlift.backbones import CLIP, get_arch  # noqa: E402
from vidlift.backbones.factory import Backbone  # noqa: E402
from vidlift.engine.optim import transfer_param_groups  # noqa: E402
from vidlift.tasks.recognition.heads import LinearHead, build_head  # noqa: E402
from vidlift.tasks.recognition.task import RecognitionTask  # noqa: E402
from vidlift.transfer import TransferModel, get_strategy  # noqa: E402
from vidlift.transfer.base import VideoOutput  # noqa: E402


# -- Text4Vis ----------------------------------------------------------------------------------
def test_text4vis_classifier_is_frozen_and_gets_no_gradient(synth):  # noqa: F811
    torch.manual_seed(0)
    task, model = make(synth, "text_init", [get_strategy("temporal_transformer", layers=1, init_from_text=False)])
    assert not task.head.weight.requires_grad and not [p for p in task.parameters() if p.requires_grad]
    before = task.head.weight.detach().clone()
    out = task.training_step(model, batch_of(task.dataset("train", TRAIN_TF), 4))
    out.loss.backward()
    assert task.head.weight.grad is None
    video_head = [p for n, p in model.named_parameters() if n.startswith("roles.video_head.")]
    assert video_head and all(p.grad is not None and p.grad.abs().sum() > 0 for p in video_head)
    assert torch.equal(task.head.weight, before)
    # freeze_classifier: false trains it (a cosine linear probe)
    probe, model = make(synth, "text_init", freeze_classifier=False)
    probe.training_step(model, batch_of(probe.dataset("train", TRAIN_TF), 4)).loss.backward()
    assert probe.head.weight.requires_grad and probe.head.weight.grad.abs().sum() > 0


def test_frozen_text4vis_classifier_alone_is_refused_saying_how_to_train_it(synth):  # noqa: F811
    task, model = make(synth, "text_init")  # mean_pool alone: nothing trains
    with pytest.raises(ValueError, match="classifier frozen .*task.freeze_classifier=false"):
        assert task.trains
    with pytest.raises(ValueError, match="task.freeze_classifier=false"):
        task.training_step(model, batch_of(task.dataset("train", TRAIN_TF), 2))
    assert make(synth, "text_init", freeze_classifier=False)[0].trains
    with pytest.raises(ValueError, match="freeze_classifier .* applies to head text_init only"):
        RecognitionTask(kinetics(synth), head="linear", freeze_classifier=True)
    with pytest.raises(ValueError, match="freeze_classifier"):
        RecognitionTask(kinetics(synth), head="text_init", freeze_classifier="no")


def test_text4vis_clip_ratio_is_the_backbone_rate_over_the_new_modules_rate():
    # Text4Vis (whwu95/Text4Vis train.py): the CLIP image tower (and logit_scale) train at
    # lr * clip_ratio, the new modules (its temporal transformer) at lr; K400 config lr 5e-5,
    # clip_ratio 0.1. In vidlift: optim.lr = lr * clip_ratio, full_finetune's
    # new_module_lr_scale = 1 / clip_ratio.
    lr, clip_ratio = 5e-5, 0.1
    model = TransferModel(tiny_backbone(), [
        get_strategy("full_finetune", towers=["visual"], new_module_lr_scale=1 / clip_ratio),
        get_strategy("temporal_transformer", layers=1, init_from_text=False)], num_frames=T)
    groups = transfer_param_groups(model, lr * clip_ratio, weight_decay=0.2)
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    names = dict(model.trainable_parameters())
    backbone = [n for n in names if n.startswith("backbone.")]
    new = [n for n in names if n.startswith("roles.video_head.")]
    assert backbone and new and len(backbone) + len(new) == len(names)
    assert all(rate[id(names[n])] == pytest.approx(lr * clip_ratio, rel=1e-12) for n in backbone)  # 5e-6
    assert all(rate[id(names[n])] == pytest.approx(lr, rel=1e-12) for n in new)  # 5e-5


def test_text4vis_vitb16_trainable_parameters():
    # Text4Vis ViT-B/16 (configs/k400/k400_train_rgb_vitb-16-f8.yaml: sim_header Transf,
    # fix_text True) trains VideoCLIP = CLIP's image tower + the "Transf" video header +
    # logit_scale (modules/video_clip.py); the classifier is a plain tensor. By hand:
    #   image tower 86,192,640 (conv 589,824; class 768; positions 197*768 = 151,296;
    #     ln_pre 1,536; 12 blocks * 7,087,872 = 85,054,464; ln_post 1,536; proj 768*512 = 393,216)
    #   Transf: 6 blocks of width 512 * 3,152,384 (in_proj 787,968, out_proj 262,656, c_fc
    #     1,050,624, c_proj 1,049,088, two LNs 2,048) = 18,914,304 + frame positions 77*512 = 39,424
    #   logit_scale 1                         -> 105,146,369.
    # Neither the paper nor the README states a count; this is the count of the official modules.
    # vidlift leaves logit_scale frozen with towers [visual]: 105,146,368 (well inside 1%).
    with torch.device("meta"):
        clip = CLIP(get_arch("ViT-B-16"))
    tiny = tiny_backbone()
    backbone = Backbone(clip, tiny.preprocess, tiny.tokenizer, tiny.meta)
    strategies = [get_strategy("full_finetune", towers=["visual"]),
                  get_strategy("temporal_transformer", layers=6, init_from_text=False)]
    model = TransferModel(backbone, strategies, num_frames=8)
    trainable = sum(p.numel() for _, p in model.trainable_parameters())
    assert trainable == 105_146_368
    assert trainable == pytest.approx(105_146_369, rel=0.01)


# -- linear head on the pre-projection feature ----------------------------------------------------
def test_pre_projection_linear_head_shape_and_value(synth):  # noqa: F811
    task, model = make(synth, {"name": "linear", "features": "pre_projection", "dropout": 0.5})
    assert task.head.fc.in_features == model.width != model.embed_dim
    batch = batch_of(task.dataset("train", TRAIN_TF), 3)
    model.eval(), task.eval()
    out = model.encode_video(batch["video"])
    logits = task.head(model, out)
    assert logits.shape == (3, 14)
    # MeanPool's pre-projection feature: the mean over time of the pooled (post-ln_post) class tokens
    want = task.head.fc(out.features.pooled.mean(1))
    torch.testing.assert_close(logits, want)


def test_dropout_acts_in_training_only(synth):  # noqa: F811
    task, model = make(synth, {"name": "linear", "features": "pre_projection", "dropout": 0.5})
    out = model.encode_video(batch_of(task.dataset("train", TRAIN_TF), 4)["video"])
    task.train()
    torch.manual_seed(0)
    a = task.head(model, out)
    b = task.head(model, out)
    assert not torch.allclose(a, b)
    x = out.pre_projection
    torch.manual_seed(0)
    mask = torch.nn.functional.dropout(torch.ones_like(x), 0.5, training=True)  # the same draw: 0 or 2
    torch.testing.assert_close(a, task.head.fc(x * mask))
    task.eval()
    torch.testing.assert_close(task.head(model, out), task.head(model, out))
    torch.testing.assert_close(task.head(model, out), task.head.fc(x))


def test_linear_head_initialisation():
    # AIM's I3DHead: N(0, 0.01^2), zero bias; 400 x 768 draws, so the sample std is within 2%.
    head = LinearHead(768, 400, seed=3, features="pre_projection", dropout=0.5, init_std=0.01)
    w = head.fc.weight.detach()
    assert w.std().item() == pytest.approx(0.01, rel=0.02) and abs(w.mean().item()) < 1e-4
    assert torch.count_nonzero(head.fc.bias) == 0
    assert torch.equal(w, LinearHead(768, 400, seed=3, init_std=0.01).fc.weight.detach())  # a function of seed
    # EVL: nn.Linear's default, U(-1/sqrt(768), 1/sqrt(768)) = U(-0.0361, 0.0361) for weight and bias
    evl = LinearHead(768, 400, seed=3, init_std=None)
    bound = 768 ** -0.5
    for p in (evl.fc.weight, evl.fc.bias):
        assert p.abs().max().item() <= bound and p.abs().max().item() > 0.95 * bound
    assert evl.fc.weight.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.02)  # uniform: bound / sqrt(3)
    # the default stays timm's 0.02 on the projected embedding, without dropout
    default = LinearHead(512, 400, seed=0)
    assert default.fc.weight.std().item() == pytest.approx(0.02, rel=0.02) and isinstance(default.dropout,
                                                                                         torch.nn.Identity)


def test_pre_projection_errors_name_the_video_head(synth):  # noqa: F811
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="video head TemporalTransformerHead does not give"):
        make(synth, {"name": "linear", "features": "pre_projection"}, [get_strategy("temporal_transformer", layers=1)])
    task, model = make(synth, {"name": "linear", "features": "pre_projection"})
    out = model.encode_video(batch_of(task.dataset("train", TRAIN_TF), 2)["video"])
    no_feature = VideoOutput(out.embedding, out.features, None)  # e.g. features from an old cache
    with pytest.raises(ValueError, match="video head MeanPool gave no pre_projection"):
        task.head(model, no_feature)


@pytest.mark.parametrize("head, match", [
    ({"name": "linear", "feature": "x"}, "head.feature is not an option of head linear .*features, dropout"),
    ({"name": "linear", "features": "cls"}, "head.features must be one of projection, pre_projection"),
    ({"name": "linear", "dropout": 1.0}, r"head.dropout must be a probability in \[0, 1\)"),
    ({"name": "linear", "init_std": 0}, "head.init_std must be a positive number or null"),
    ({"name": "similarity", "dropout": 0.5}, "head.dropout is not an option of head similarity .*none"),
    ({"features": "pre_projection"}, "head as a mapping needs a name"),
    ({"name": "mlp"}, "unknown head 'mlp'"),
])
def test_head_option_errors(synth, head, match):  # noqa: F811
    with pytest.raises(ValueError, match=match):
        make(synth, head)


def test_build_head_takes_options():
    model = TransferModel(tiny_backbone(), [], num_frames=T)
    head = build_head("linear", model, ["a", "b"], options={"features": "pre_projection", "init_std": None})
    assert head.fc.in_features == model.width and head.fc.out_features == 2
