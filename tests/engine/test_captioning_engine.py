"""Captioning through `vidlift fit` / `predict` with `tiny` on a generated MSR-VTT-style set:
every transfer strategy trains two steps and writes BLEU-4 / ROUGE-L / CIDEr (METEOR stays out
of the matrix: its JVM start is slow; tests/tasks/test_captioning_metrics.py runs it once), or
is refused naming strategy and task; predict writes {video_id, caption} lines that
evaluate_files scores."""

from __future__ import annotations

import json
import os

import pytest
import torch
import yaml

from vidlift.cli import main
from vidlift.synthetic.synth import generate
from vidlift.tasks.captioning.evaluate import evaluate_files
from vidlift.transfer import STRATEGIES

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# CoOp shapes class-name texts and X-CLIP's prompt generator conditions texts on a video:
# captioning encodes neither, so the task refuses them at setup.
REFUSED = {"coop": "class prompt", "xclip_prompt": "conditions texts", "distillation": "no soft targets"}
KEYS = {"BLEU-4", "ROUGE-L", "CIDEr", "num_videos"}


@pytest.fixture(scope="module")
def captions(tmp_path_factory):
    return generate("captioning", tmp_path_factory.mktemp("capbench") / "captioning", num_videos=10, size=32,
                    seed=5, workers=0, progress=False)


def captioning_config(root, out) -> dict:
    return {
        "seed": 0, "out": str(out), "backbone": "tiny", "transfer": [],
        "task": {"name": "captioning", "frames": 4, "max_words": 12, "layers": 1, "encoder_layers": 1,
                 "beam_size": 2, "metrics": ["bleu", "rouge", "cider"],
                 "dataset": {"format": "msrvtt", "root": str(root), "video_root": "videos",
                             "train": "msrvtt/train_val_videodatainfo.json",
                             "val": "msrvtt/train_val_videodatainfo.json",
                             "test": "msrvtt/test_videodatainfo.json"}},
        "data": {"batch_size": 4},
        "optim": {"lr": 3e-3},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "enable_progress_bar": False},
    }


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_fits_and_evaluates_captioning(name, captions, tmp_path, capsys):
    cfg = captioning_config(captions, tmp_path / "run")
    cfg["transfer"] = [{"name": name}]
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    rc = main(["fit", "--config", str(path)])
    if name in REFUSED:
        assert rc == 2
        err = capsys.readouterr().err
        assert "captioning" in err and name in err and REFUSED[name] in err, err
        return
    assert rc == 0
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert KEYS <= set(record["metrics"]) and record["transfer"] == [name]
    assert record["metrics"]["num_videos"] > 0
    assert all(0.0 <= record["metrics"][k] <= 1000.0 for k in ("BLEU-4", "ROUGE-L", "CIDEr"))
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2 and any(k.startswith("task.decoder.") for k in ckpt["state_dict"])


def test_predict_writes_captions_that_evaluate_scores(captions, tmp_path):
    cfg = captioning_config(captions, tmp_path / "run")
    cfg["task"]["search"] = "greedy"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", "--config", str(path)]) == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert main(["predict", "--config", str(path), "--ckpt_path", str(ckpt)]) == 0
    pred = tmp_path / "run" / "predictions.jsonl"
    rows = [json.loads(line) for line in pred.read_text().splitlines()]
    gt = captions / "msrvtt" / "test_videodatainfo.json"
    test_ids = {v["video_id"] for v in json.loads(gt.read_text())["videos"]}
    assert rows and {r["video_id"] for r in rows} == test_ids
    assert all(set(r) >= {"video_id", "caption"} and isinstance(r["caption"], str) for r in rows)
    scores = evaluate_files(pred, gt, metrics=["bleu", "rouge", "cider"])
    assert scores["num_videos"] == len(test_ids) and KEYS <= set(scores)
