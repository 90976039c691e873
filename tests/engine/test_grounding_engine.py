"""Grounding end to end with `tiny` on generated QVHighlights-format sets: `vidlift fit` writes
the official metrics and the training losses by name, `vidlift predict` writes submission lines,
the predictor grounds a video ten times longer than the training videos, and every transfer
strategy either trains a step or is refused naming itself and the task."""

from __future__ import annotations

import csv
import json
import os

import pytest
import torch
import yaml

from vidlift.cli import main
from vidlift.synthetic.synth import generate
from vidlift.tasks.grounding.predictor import GroundingPredictor
from vidlift.transfer import STRATEGIES

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SUBMISSION_KEYS = {"qid", "query", "vid", "pred_relevant_windows", "pred_saliency_scores"}


@pytest.fixture(scope="module")
def grounding_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("grounding")
    return {  # 8 s training videos (4 clip units); 80 s long ones (40 units)
        "short": generate("grounding", root / "short", num_videos=6, num_frames=32, size=32, seed=5, workers=0,
                          progress=False),
        "long": generate("grounding", root / "long", num_videos=2, num_frames=320, size=32, seed=6, workers=0,
                         progress=False),
    }


def grounding_config(sets, out, **task) -> dict:
    q = "qvhighlights/highlight_train_release.jsonl"
    return {
        "seed": 0, "out": str(out), "backbone": "tiny", "transfer": [],
        "task": {"name": "grounding", "frames": 4,
                 "head_args": {"hidden_dim": 32, "heads": 4, "dim_feedforward": 64, "num_queries": 4},
                 "dataset": {"format": "qvhighlights", "root": str(sets["short"]), "video_root": "videos",
                             "train": q, "val": q, "test": q}, **task},
        "data": {"batch_size": 2, "num_workers": 0},
        "optim": {"lr": 1e-3},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "enable_progress_bar": False},
    }


def _write(cfg, path):
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_fit_predict_and_a_ten_times_longer_video(grounding_sets, tmp_path):
    run = tmp_path / "run"
    cfg = _write(grounding_config(grounding_sets, run), tmp_path / "g.yaml")
    assert main(["fit", "--config", str(cfg), "trainer.limit_val_batches=2", "trainer.log_every_n_steps=1"]) == 0
    record = json.loads((run / "metrics.json").read_text())
    m = record["metrics"]
    assert {"MR-full-mAP", "MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mIoU", "HL-min-VeryGood-mAP",
            "HL-min-VeryGood-Hit1"} <= set(m)
    assert m["num_queries"] == 4 and 0 <= m["MR-full-mAP"] <= 100
    assert record["parameters"]["trainable"] > 0 and record["gflops_per_clip"] > 0
    with open(next((run / "csv").glob("version_*/metrics.csv"))) as f:
        logged = set(next(csv.reader(f)))
    assert {"train/loss_span", "train/loss_giou", "train/loss_label", "train/loss_saliency",
            "train/loss_span_0", "val/loss"} <= logged
    assert m["loss"] > 0  # the validation loss: the head's weighted terms, as in training

    assert main(["predict", "--config", str(cfg), "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]) == 0
    lines = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines()]
    truth = {json.loads(x)["qid"]: json.loads(x) for x in
             (grounding_sets["short"] / "qvhighlights/highlight_train_release.jsonl").read_text().splitlines()}
    assert len(lines) == len(truth)
    for line in lines:
        assert set(line) == SUBMISSION_KEYS and line["qid"] in truth
        duration = truth[line["qid"]]["duration"]
        assert len(line["pred_saliency_scores"]) == round(duration / 2)
        assert 1 <= len(line["pred_relevant_windows"]) <= 4
        for s, e, score in line["pred_relevant_windows"]:
            assert 0 <= s <= e <= duration and 0 <= score <= 1

    predictor = GroundingPredictor.from_run(run)
    long_videos = sorted((grounding_sets["long"] / "videos").glob("*.mp4"))
    out = predictor.predict(long_videos[0], "the red ring moves down")
    assert out["duration"] == pytest.approx(80.0, abs=0.5) and out["clip_length"] == 2.0
    assert len(out["saliency"]) == 40  # one per 2-s clip unit: ten times the training videos' 4
    assert out["windows"]
    for s, e, _ in out["windows"]:
        assert 0 <= s <= e <= out["duration"]
    # the predictor and `vidlift predict` agree on a training video
    first = lines[0]
    video = grounding_sets["short"] / "videos" / f"{first['vid']}.mp4"
    again = predictor.predict(video, first["query"])
    assert again["windows"] == first["pred_relevant_windows"]
    assert again["saliency"] == pytest.approx(first["pred_saliency_scores"], abs=1e-3)


def test_predictor_refuses_a_folder_without_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        GroundingPredictor.from_run(tmp_path)


# Strategies the grounding task refuses, and a word of the refusal.
REFUSED = {"coop": "class prompt", "xclip_prompt": "xclip_prompt", "evl": "frame outputs",
           "xclip": "frame outputs", "distillation": "no soft targets"}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_trains_grounding_or_is_refused(name, grounding_sets, tmp_path, capsys):
    cfg = grounding_config(grounding_sets, tmp_path / "run")
    cfg["transfer"] = [{"name": name}]
    cfg["trainer"].update(limit_train_batches=1, limit_val_batches=1)
    if name == "r2_tuning":
        cfg["task"]["head"] = "r2"
        cfg["task"]["head_args"] = {}
    rc = main(["fit", "--config", str(_write(cfg, tmp_path / "cfg.yaml"))])
    if name in REFUSED:
        assert rc == 2
        err = capsys.readouterr().err
        assert REFUSED[name] in err and "grounding" in err, err
        return
    assert rc == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "MR-full-mAP" in record["metrics"] and record["transfer"] == [name]
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 1 and any(k.startswith("task.head.") for k in ckpt["state_dict"])
