"""The recognition task on a generated Kinetics-format set with a random tiny CLIP: data
contract, each head's training signal, few-shot sampling, multi-view testing, bad videos."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.transfer.conftest import tiny_backbone  # noqa: E402
from vidlift.data.clips import collate_clips  # noqa: E402
from vidlift.data.datasets import get_format  # noqa: E402
from vidlift.data.transforms import VideoTransform  # noqa: E402
from vidlift.data.video import MultiViewSampler, SegmentSampler, read_video  # noqa: E402
from vidlift.synthetic.synth import generate  # noqa: E402
from vidlift.tasks.recognition.few_shot import sample_few_shot  # noqa: E402
from vidlift.tasks.recognition.metrics import classification_metrics  # noqa: E402
from vidlift.tasks.recognition.task import RecognitionTask  # noqa: E402
from vidlift.transfer import TransferModel, get_strategy  # noqa: E402

T = 4  # frames per clip
MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
# resize_size > size leaves room for distinct crops of the 32 px square frames
TRAIN_TF = VideoTransform(32, MEAN, STD, train=True, resize_size=40)
TEST_TF = VideoTransform(32, MEAN, STD, resize_size=40)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    # 56 videos: 14 motion classes, 2 training clips, 1 validation and 1 test clip per class.
    return generate("recognition", tmp_path_factory.mktemp("rec") / "set", num_videos=56, size=32, seed=5,
                    workers=0, progress=False)


def kinetics(root: Path, **extra) -> dict:
    k = "kinetics/motion"
    return {"format": "kinetics", "root": str(root), "train": f"{k}/train.csv", "val": f"{k}/validate.csv",
            "test": f"{k}/test.csv", "classes": f"{k}/classes.txt", "video_root": "videos", **extra}


def make(synth, head="similarity", strategies=(), **kw):
    model = TransferModel(tiny_backbone("tiny-clip"), list(strategies), num_frames=T)
    task = RecognitionTask(kinetics(synth), frames=T, head=head, **kw)
    task.setup(model)
    return task, model


def batch_of(ds, n, epoch=0):
    return collate_clips([ds[(epoch, i)] for i in range(n)])


# -- data contract ---------------------------------------------------------------------------
def test_dataset_items_and_class_order(synth):
    task = RecognitionTask(kinetics(synth), frames=T)
    names = (synth / "kinetics/motion/classes.txt").read_text().split("\n")[:14]
    assert task.class_names == tuple(names)
    train = task.dataset("train", TRAIN_TF)
    assert len(train) == 28 and len(task.dataset("val", TEST_TF)) == 14
    item = train[(0, 3)]
    assert item["video"].shape == (T, 3, 32, 32) and item["index"] == 3
    rec = task.records("train")[3]
    assert item["video_id"] == rec.video_id and names[item["label"]] == rec.label_name
    # training randomness is a function of (seed, epoch, index)
    assert torch.equal(train[(0, 3)]["video"], item["video"])
    assert not torch.equal(train[(1, 3)]["video"], item["video"])
    b = batch_of(train, 5)
    assert b["video"].shape == (5, T, 3, 32, 32) and b["label"].dtype == torch.long and len(b["video_id"]) == 5


def test_config_errors(synth):
    with pytest.raises(ValueError, match="dataset.format"):
        RecognitionTask({"format": "avi"})
    with pytest.raises(ValueError, match="unknown key"):
        RecognitionTask(kinetics(synth, labels="x"))
    with pytest.raises(ValueError, match="needs video_root"):
        RecognitionTask({"format": "kinetics", "train": "a.csv"})
    with pytest.raises(ValueError, match="unknown head"):
        RecognitionTask(kinetics(synth), head="mlp")
    with pytest.raises(ValueError, match="one '\\{\\}'"):
        RecognitionTask(kinetics(synth), prompt="a video")
    with pytest.raises(ValueError, match="test_crops"):
        RecognitionTask(kinetics(synth), test_crops=2)
    with pytest.raises(ValueError, match="loss 'kl'"):
        RecognitionTask(kinetics(synth), head="linear", loss="kl")
    no_val = kinetics(synth)
    del no_val["val"]
    with pytest.raises(ValueError, match="no 'val' split"):
        RecognitionTask(no_val).dataset("val", TEST_TF)


def test_ssv2_format_with_test_answers(synth):
    d = {"format": "ssv2", "root": str(synth / "ssv2"), "train": "train.json", "val": "validation.json",
         "test": "test.json", "labels": "labels.json", "test_answers": "test-answers.csv", "video_root": "videos"}
    task = RecognitionTask(d, frames=T)
    assert len(task.class_names) == 14
    item = task.dataset("test", TEST_TF)[0]
    assert item["video"].shape == (T, 3, 32, 32) and 0 <= item["label"] < 14
    del d["test_answers"]
    with pytest.raises(ValueError, match="unlabelled clips"):
        RecognitionTask(d, frames=T).dataset("test", TEST_TF)
    assert RecognitionTask(d, frames=T).dataset("predict", TEST_TF)[0]["label"] == -1


def test_readable_class_names():
    assert get_format("ucf101").class_text("ApplyEyeMakeup") == "Apply Eye Makeup"
    assert get_format("hmdb51").class_text("brush_hair") == "brush hair"
    assert get_format("kinetics").class_text("moving left") == "moving left"


# -- heads -----------------------------------------------------------------------------------
HEAD_CASES = {
    "linear": ("linear", [], {}),
    "text_init": ("text_init", [], {"freeze_classifier": False}),  # a cosine probe; Text4Vis freezes it
    "similarity+coop": ("similarity", [("coop", {"n_ctx": 4})], {}),
    # ActionCLIP's KL also ranks videos per text: the video side must train too
    "similarity+coop+kl": ("similarity", [("coop", {"n_ctx": 4}), ("temporal_transformer", {"layers": 1})],
                           {"loss": "kl"}),
    "linear+smoothing": ("linear", [], {"label_smoothing": 0.1}),
}


@pytest.mark.parametrize("case", list(HEAD_CASES))
def test_heads_train_and_reduce_the_loss(synth, case):
    head, strategies, kw = HEAD_CASES[case]
    torch.manual_seed(0)  # new modules (CoOp context, temporal transformer) draw from the global RNG
    task, model = make(synth, head, [get_strategy(n, **h) for n, h in strategies], **kw)
    batch = batch_of(task.dataset("train", TRAIN_TF), 8)
    params = [p for p in [*task.parameters(), *model.parameters()] if p.requires_grad]
    expected = {"linear": {"head.fc.weight", "head.fc.bias"}, "text_init": {"head.weight"}, "similarity": set()}[head]
    assert {n for n, p in task.named_parameters() if p.requires_grad} == expected
    if strategies:
        assert "roles.class_prompt.ctx" in {n for n, _ in model.trainable_parameters()}
    kl = kw.get("loss") == "kl"
    opt = torch.optim.Adam(params, lr=3e-3 if kl else 1e-2)
    losses = []
    for step in range(20 if kl else 12):
        out = task.training_step(model, batch)
        opt.zero_grad()
        out.loss.backward()
        if step == 0:
            for p in params:  # the gradient reaches every trainable tensor, and only those
                assert p.grad is not None and p.grad.abs().sum() > 0
            assert all(p.grad is None for p in model.backbone.parameters())
            assert set(out.logs) >= {"task_loss", "top1"}
        opt.step()
        losses.append(float(out.loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses


def test_text_init_starts_as_zero_shot_and_can_be_frozen(synth):
    task, model = make(synth, "text_init", freeze_classifier=True)
    zs, _ = make(synth, "zero_shot")
    batch = batch_of(task.dataset("train", TRAIN_TF), 4)
    out = model.encode_video(batch["video"])
    torch.testing.assert_close(task.head(model, out), zs.head(model, out), rtol=1e-5, atol=1e-5)
    assert not task.head.weight.requires_grad and not list(p for p in task.parameters() if p.requires_grad)
    w = task.head.weight
    torch.testing.assert_close(w.norm(dim=-1), torch.ones(14))


def _count_class_encodings(model):
    calls = []
    original = model.encode_classes

    def counting(names):
        calls.append(len(names))
        return original(names)

    model.encode_classes = counting
    return calls


def test_similarity_recomputes_class_text_every_step_and_caches_in_evaluation(synth):
    task, model = make(synth, "similarity", [get_strategy("coop", n_ctx=4)])
    calls = _count_class_encodings(model)
    batch = batch_of(task.dataset("train", TRAIN_TF), 4)
    for _ in range(2):
        task.training_step(model, batch).loss.backward()
    assert calls == [14, 14]
    val = task.dataset("val", TEST_TF)
    outs = [task.evaluation_step(model, collate_clips([val[i] for i in idx])) for idx in ([0, 1], [2, 3])]
    assert len(calls) == 3  # once for the whole evaluation
    task.compute_metrics({k: torch.cat([o[k] for o in outs]) for k in outs[0]}, "val")
    task.evaluation_step(model, collate_clips([val[0]]))
    assert len(calls) == 4  # a new evaluation encodes again


def test_zero_shot_evaluates_but_does_not_train(synth):
    task, model = make(synth, "zero_shot")
    assert not list(task.parameters())
    test = task.dataset("test", TEST_TF)
    batch = collate_clips([test[i] for i in range(len(test))])
    with pytest.raises(ValueError, match="vidlift validate"):
        task.training_step(model, batch)
    out = task.evaluation_step(model, batch)
    assert out["scores"].shape == (14, 14) and torch.equal(out["labels"], batch["label"])
    torch.testing.assert_close(out["scores"].sum(1), torch.ones(14))
    m = task.compute_metrics(out, "test")
    assert set(m) == {"top1", "top5", "mean_class_accuracy", "loss", "num_clips"}
    assert ({k: m[k] for k in ("top1", "top5", "mean_class_accuracy")}
            == classification_metrics(out["scores"], out["labels"]))
    assert all(0.0 <= m[k] <= 1.0 for k in ("top1", "top5", "mean_class_accuracy")) and m["loss"] > 0


def test_prompt_sets_the_default_class_prompt_only(synth, caplog):
    task, model = make(synth, "zero_shot", prompt="a clip of {}")
    assert model.roles["class_prompt"].template == "a clip of {}"
    with caplog.at_level(logging.WARNING):
        _, coop = make(synth, "similarity", [get_strategy("coop", n_ctx=4)], prompt="a clip of {}")
    assert "not used" in caplog.text and not hasattr(coop.roles["class_prompt"], "template")


def test_predict_step(synth):
    task, model = make(synth, "zero_shot")
    test = task.dataset("predict", TEST_TF)
    batch = collate_clips([test[i] for i in range(3)])
    records = task.predict_step(model, batch)
    assert [r["video_id"] for r in records] == batch["video_id"]
    for r in records:
        assert len(r["top5"]) == 5 and all(name in task.class_names for name, _ in r["top5"])
        probs = [p for _, p in r["top5"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-5
    assert task.example_batch(TEST_TF, T)["video"].shape == (1, T, 3, 32, 32)


# -- few-shot ----------------------------------------------------------------------------------
def test_few_shot_sampler_picks_k_per_class_deterministically():
    labels = [0] * 5 + [1] * 3 + [2] * 4
    a = sample_few_shot(labels, 2, 3, seed=0)
    assert a == sample_few_shot(labels, 2, 3, seed=0) and a == sorted(a)
    assert sorted(labels[i] for i in a) == [0, 0, 1, 1, 2, 2]
    assert any(sample_few_shot(labels, 2, 3, seed=s) != a for s in range(1, 5))
    with pytest.raises(ValueError, match=r"fewer than 4 training clips: 'b' \(3\)"):
        sample_few_shot(labels, 4, 3, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="fewer than 1 .*3 \\(0\\)"):
        sample_few_shot(labels, 1, 4)


def test_few_shot_training_split(synth):
    def ids(k, seed):
        task = RecognitionTask(kinetics(synth), frames=T, few_shot=k, few_shot_seed=seed)
        ds = task.dataset("train", TRAIN_TF)
        return [s.video_id for s in ds.samples], [s.label_index for s in ds.samples]

    one, labels = ids(1, 0)
    assert sorted(labels) == list(range(14))
    assert ids(1, 0)[0] == one and ids(1, 1)[0] != one
    assert len(ids(2, 0)[0]) == 28
    with pytest.raises(ValueError, match="few_shot=3: 14 of 14 classes"):
        ids(3, 0)


# -- multi-view testing -------------------------------------------------------------------------
def test_multi_view_sampler_shifts_tsn_frames():
    from vidlift.data.video import VideoInfo

    info = VideoInfo(path="x", num_frames=8, fps=8.0, duration=1.0, width=32, height=32, codec="h264")
    assert MultiViewSampler(4, 2)(info).indices.tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert MultiViewSampler(4, 1)(info).indices.tolist() == SegmentSampler(4, "test")(info).indices.tolist()
    assert MultiViewSampler(4, 2)(info).num_clips == 2


def test_multi_view_test_averages_six_views(synth):
    task, model = make(synth, "text_init", test_clips=2, test_crops=3)
    test = task.dataset("test", TEST_TF)
    assert len(test) == 14 and task.dataset("val", TEST_TF)[0]["video"].ndim == 4  # val: one view
    item = test[0]
    video = item["video"]
    assert video.shape == (6, T, 3, 32, 32)
    # views are clip-major: view 3k+j = clip k, crop j (left, centre, right)
    frames = read_video(test.samples[0].video_path, MultiViewSampler(T, 2)).frames
    for k in range(2):
        clip = frames[k * T : (k + 1) * T]
        torch.testing.assert_close(video[3 * k + 1], TEST_TF(clip))  # centre = the usual test crop
        resized = torch.nn.functional.interpolate(clip.permute(0, 3, 1, 2).float(), size=(40, 40), mode="bicubic",
                                                  align_corners=False, antialias=True).clamp(0, 255).round()
        norm = (resized / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        torch.testing.assert_close(video[3 * k], norm[..., 4:36, 0:32])
        torch.testing.assert_close(video[3 * k + 2], norm[..., 4:36, 8:40])
    assert not torch.equal(video[0], video[1]) and not torch.equal(video[1], video[4])
    batch = collate_clips([test[0], test[1]])
    assert batch["video"].shape == (2, 6, T, 3, 32, 32)
    scores = task.evaluation_step(model, batch)["scores"]
    with torch.no_grad():
        manual = torch.stack([task.head(model, model.encode_video(batch["video"][:, v])).softmax(-1)
                              for v in range(6)]).mean(0)
    torch.testing.assert_close(scores, manual)


# -- bad videos ---------------------------------------------------------------------------------
def test_bad_and_missing_videos(synth, tmp_path, caplog):
    root = tmp_path / "set"
    (root / "videos").mkdir(parents=True)
    for f in ("train.csv", "classes.txt"):
        shutil.copy(synth / "kinetics/motion" / f, root / f)
    for v in (synth / "videos").iterdir():
        (root / "videos" / v.name).symlink_to(v)
    lines = (root / "train.csv").read_text().splitlines()
    broken = lines[1].split(",")[1]
    (root / "videos" / f"{broken}_000000_000001.mp4").unlink()
    (root / "videos" / f"{broken}_000000_000001.mp4").write_bytes(b"")  # zero bytes: does not decode
    gone = lines[2].split(",")[1]
    (root / "videos" / f"{gone}_000000_000001.mp4").unlink()  # absent: the reader leaves it out
    d = {"format": "kinetics", "root": str(root), "train": "train.csv", "classes": "classes.txt",
         "video_root": "videos"}
    task = RecognitionTask(d, frames=T)
    ds = task.dataset("train", TRAIN_TF)
    assert len(ds) == 27 and [m.video_id for m in task.records("train").missing] == [f"{gone}_000000_000001"]
    assert "error" in ds[0] and "empty" in ds[0]["error"]
    with caplog.at_level(logging.WARNING):
        batch = batch_of(ds, 4)
    assert batch["index"].tolist() == [1, 2, 3] and batch["video"].shape[0] == 3
    assert "does not decode" in caplog.text


def _camel(name: str) -> str:
    return "".join(w.capitalize() for w in name.replace("-", " ").split())


def test_ucf101_and_hmdb51_split_files(synth, tmp_path):
    """The official split layouts, written for the generated videos (CamelCase / snake_case classes)."""
    rows = {s: [line.split(",")[:2] for line in (synth / f"kinetics/motion/{s}.csv").read_text().splitlines()[1:]]
            for s in ("train", "test")}
    classes = (synth / "kinetics/motion/classes.txt").read_text().split("\n")[:14]
    vid = "{}_000000_000001".format
    ucf = tmp_path / "ucfTrainTestlist"
    ucf.mkdir()
    (ucf / "classInd.txt").write_text("".join(f"{i + 1} {_camel(c)}\r\n" for i, c in enumerate(classes)))
    (ucf / "trainlist01.txt").write_text("".join(f"{_camel(c)}/{vid(y)}.avi {classes.index(c) + 1}\r\n"
                                                 for c, y in rows["train"]))
    (ucf / "testlist01.txt").write_text("".join(f"{_camel(c)}/{vid(y)}.avi\r\n" for c, y in rows["test"]))
    task = RecognitionTask({"format": "ucf101", "splits": str(ucf), "split": 1, "video_root": str(synth / "videos")},
                           frames=T)
    assert task.class_names[-1] == "WigglingThenBlinking" and task.class_texts[-1] == "Wiggling Then Blinking"
    assert len(task.dataset("train", TRAIN_TF)) == 28
    val, test = task.dataset("val", TEST_TF), task.dataset("test", TEST_TF)  # UCF101 validates on the test list
    assert [s.video_id for s in val.samples] == [s.video_id for s in test.samples] and len(test) == 14
    assert task.class_names[val[0]["label"]] == _camel(rows["test"][0][0])

    hmdb = tmp_path / "testTrainMulti_7030_splits"
    hmdb.mkdir()
    for c in classes:
        lines = [f"{vid(y)}.avi {1 if s == 'train' else 2}\n"
                 for s in ("train", "test") for cc, y in rows[s] if cc == c]
        (hmdb / f"{c.replace(' ', '_')}_test_split1.txt").write_text("".join(lines))
    task = RecognitionTask({"format": "hmdb51", "splits": str(hmdb), "video_root": str(synth / "videos")}, frames=T)
    assert task.class_texts == sorted(classes)  # alphabetical file names, underscores read as spaces
    assert len(task.dataset("train", TRAIN_TF)) == 28 and len(task.dataset("val", TEST_TF)) == 14
    item = task.dataset("test", TEST_TF)[0]
    truth = dict((vid(y), c) for c, y in rows["test"])
    assert task.class_texts[item["label"]] == truth[item["video_id"]]


@pytest.mark.parametrize("head", ["linear", "similarity"])
def test_strategy_auxiliary_losses_join_the_loss(synth, head):
    torch.manual_seed(0)
    task, model = make(synth, head, [get_strategy("tower_compression", layers=1)])
    out = task.training_step(model, batch_of(task.dataset("train", TRAIN_TF), 4))
    aux = {k: v for k, v in out.logs.items() if k.startswith("aux_")}
    assert aux and float(out.loss.detach()) == pytest.approx(out.logs["task_loss"] + sum(aux.values()), rel=1e-5)
    out.loss.backward()
    student = [p for n, p in model.named_parameters() if p.requires_grad]
    assert student and all(p.grad is not None for p in student)
