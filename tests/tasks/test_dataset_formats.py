"""Dataset formats behind one registry: a new format is one file and one line, and tasks run on
it without knowing it; config errors name the format and its keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.data import toy_format  # noqa: E402  (registers "toy_list")
from tests.transfer.conftest import tiny_backbone  # noqa: E402
from vidlift.data.clips import collate_clips  # noqa: E402
from vidlift.data.datasets import (  # noqa: E402
    CAPTIONED_VIDEOS,
    FORMATS,
    LABELLED_CLIPS,
    DatasetConfig,
    DatasetFormat,
    read_kinetics,
    register_format,
)
from vidlift.synthetic.synth import generate  # noqa: E402
from vidlift.tasks.recognition.task import RecognitionTask  # noqa: E402
from vidlift.tasks.retrieval import RetrievalTask  # noqa: E402
from vidlift.transfer import TransferModel  # noqa: E402

T = 4


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return generate("recognition", tmp_path_factory.mktemp("fmt") / "set", num_videos=28, size=32, seed=2,
                    workers=0, progress=False)


@pytest.fixture(scope="module")
def toy(synth, tmp_path_factory) -> Path:
    """The generated set's train and test splits written in the toy format."""
    out = tmp_path_factory.mktemp("toy")
    k = synth / "kinetics/motion"
    (out / "classes.txt").write_text((k / "classes.txt").read_text())
    for split in ("train", "test"):
        rec = read_kinetics(k / f"{split}.csv", synth / "videos", classes=k / "classes.txt")
        (out / f"{split}.txt").write_text("".join(f"{s.video_path.name} {s.label_name}\n" for s in rec))
    return out


def _kinetics(synth):
    k = "kinetics/motion"
    return {"format": "kinetics", "root": str(synth), "train": f"{k}/train.csv", "test": f"{k}/test.csv",
            "classes": f"{k}/classes.txt", "video_root": "videos"}


def _toy(toy, synth):
    return {"format": "toy_list", "root": str(toy), "train": "train.txt", "test": "test.txt",
            "classes": "classes.txt", "video_root": str(synth / "videos")}


def test_a_new_format_is_one_file_and_one_line(toy, synth):
    assert FORMATS["toy_list"].read_split is toy_format.read_split
    torch.manual_seed(0)
    model = TransferModel(tiny_backbone("tiny-clip"), [], num_frames=T)
    task = RecognitionTask(_toy(toy, synth), frames=T, head="linear")
    task.setup(model)
    tf = model.preprocess
    assert task.has_split("train") and task.has_split("test") and not task.has_split("val")
    train = task.dataset("train", tf)
    assert len(train) == 14 and task.class_names == tuple((toy / "classes.txt").read_text().split("\n")[:14])
    batch = collate_clips([train[(0, i)] for i in range(8)])
    assert batch["video"].shape == (8, T, 3, 32, 32)
    opt = torch.optim.Adam([p for p in task.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(10):
        out = task.training_step(model, batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert losses[-1] < 0.8 * losses[0]
    # The same clips read through the Kinetics format give the same labels and the same scores.
    ref = RecognitionTask(_kinetics(synth), frames=T, head="linear")
    ref.head = task.head
    test, ref_test = task.dataset("test", tf), ref.dataset("test", tf)
    mine = collate_clips([test[i] for i in range(len(test))])
    theirs = collate_clips([ref_test[i] for i in range(len(ref_test))])
    assert mine["video_id"] == theirs["video_id"] and torch.equal(mine["label"], theirs["label"])
    a, b = task.evaluation_step(model, mine), ref.evaluation_step(model, theirs)
    assert torch.equal(a["scores"], b["scores"])
    assert task.compute_metrics(a, "test") == ref.compute_metrics(b, "test")


def test_config_errors_name_the_format_and_its_keys(toy, synth):
    with pytest.raises(ValueError, match=r"dataset \(toy_list\) has unknown key\(s\) \['csv'\]; known: .*'classes'"):
        RecognitionTask({**_toy(toy, synth), "csv": "x"})
    cfg = _toy(toy, synth)
    del cfg["classes"]
    with pytest.raises(ValueError, match=r"dataset \(toy_list\) needs classes; required: \['classes', 'video_root'\]"):
        RecognitionTask(cfg)
    with pytest.raises(ValueError, match=r"needs train or val or test or predict"):
        RecognitionTask({"format": "toy_list", "classes": "c.txt", "video_root": "v"})
    with pytest.raises(ValueError, match=r"unknown dataset.format 'toy'; formats: .*kinetics.*toy_list"):
        RecognitionTask({"format": "toy"})
    # A format of another kind: the task names the kind it needs and the formats that have it.
    with pytest.raises(ValueError, match=r"'toy_list' provides labelled clips, but retrieval needs captioned videos; "
                                         r"formats with captioned videos: activitynet, didemo, msrvtt"):
        RetrievalTask(_toy(toy, synth))
    with pytest.raises(ValueError, match="already registered"):
        register_format(DatasetFormat("toy_list", LABELLED_CLIPS, toy_format.read_split))


def test_every_format_declares_its_kind_and_keys():
    kinds = {name: f.provides for name, f in FORMATS.items()}
    assert {n for n, k in kinds.items() if k == LABELLED_CLIPS} >= {"kinetics", "ssv2", "ucf101", "hmdb51"}
    assert {n for n, k in kinds.items() if k == CAPTIONED_VIDEOS} >= {"msrvtt", "msrvtt_1ka", "msvd", "didemo",
                                                                      "activitynet"}
    assert kinds["qvhighlights"] == "moment queries" and kinds["nextqa"] == kinds["msrvtt_qa"] == "questions"
    assert FORMATS["ssv2"].required == ("labels", "video_root") and "test_answers" in FORMATS["ssv2"].optional
    # A task's own keys are accepted besides the format's; paths resolve under root.
    cfg = DatasetConfig({"format": "msvd", "root": "/data", "captions": "c.txt", "test": ["a.txt", "/b.txt"],
                         "queries": ["x"]}, "retrieval", CAPTIONED_VIDEOS, task_keys=("queries",))
    assert cfg.paths("test") == [Path("/data/a.txt"), Path("/b.txt")] and cfg.source("predict") == "test"
    assert not cfg.has_split("train") and cfg.video_root is None
    with pytest.raises(ValueError, match="has no 'train' split: add dataset.train"):
        cfg.records("train")


def test_question_and_moment_formats_read_splits(tmp_path):
    (tmp_path / "val.csv").write_text("video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
                                      "42,10,32,32,why?,1,7,CW,a,b,c,d,e\n")
    cfg = DatasetConfig({"format": "nextqa", "root": str(tmp_path), "val": "val.csv"}, "qa", "questions")
    (sample,) = cfg.records("val")
    assert sample.options[sample.answer_index] == "b" and cfg.records("val") is cfg.records("val")
    (tmp_path / "q.jsonl").write_text('{"qid": 1, "query": "a dog", "duration": 10, "vid": "v", '
                                      '"relevant_windows": [[0, 4]], "relevant_clip_ids": [0, 1], '
                                      '"saliency_scores": [[1, 2, 3], [4, 4, 4]]}\n')
    cfg = DatasetConfig({"format": "qvhighlights", "root": str(tmp_path), "test": "q.jsonl"}, "grounding",
                        "moment queries")
    assert cfg.records("predict")[0].relevant_windows == ((0.0, 4.0),)
