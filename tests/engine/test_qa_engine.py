"""The qa task through `vidlift fit / test / predict` on a tiny generated QA set with `tiny`:
both modes, both heads, distillation, and every transfer strategy (works or refuses, naming
strategy and task)."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from vidlift.cli import main
from vidlift.synthetic.synth import generate
from vidlift.tasks.qa.evaluate import evaluate_files
from vidlift.transfer import STRATEGIES

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NEXTQA_KEYS = {"accuracy", "num_questions"}


@pytest.fixture(scope="module")
def qa_set(tmp_path_factory):
    return generate("qa", tmp_path_factory.mktemp("bench") / "qa", num_videos=8, size=32, seed=3, workers=0,
                    progress=False)


def qa_config(root, out, mode: str, **task) -> dict:
    if mode == "multiple_choice":
        ds = {"format": "nextqa", "root": str(root), "video_root": "videos", "video_map": "nextqa/map_vid_vidorID.json",
              "train": "nextqa/train.csv", "val": "nextqa/val.csv", "test": "nextqa/test.csv"}
    else:
        ds = {"format": "msrvtt_qa", "root": str(root), "video_root": "msrvtt_qa/videos",
              "train": "msrvtt_qa/train_qa.json", "val": "msrvtt_qa/val_qa.json", "test": "msrvtt_qa/test_qa.json"}
    return {"seed": 0, "out": str(out), "backbone": "tiny", "transfer": [],
            "task": {"name": "qa", "mode": mode, "frames": 4, "head": "fusion", "dataset": ds, **task},
            "data": {"batch_size": 4}, "optim": {"lr": 1e-3},
            "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1,
                        "enable_progress_bar": False}}


def _write(cfg, path):
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_multiple_choice_fit_test_predict_and_evaluate(qa_set, tmp_path):
    cfg = _write(qa_config(qa_set, tmp_path / "run", "multiple_choice"), tmp_path / "c.yaml")
    assert main(["fit", "--config", cfg]) == 0
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    m = record["metrics"]
    assert NEXTQA_KEYS <= set(m) and 0 <= m["accuracy"] <= 100
    # NExT-QA groups appear for the types present; TP never has its own key (merged into TN).
    assert {k for k in m if k.startswith("acc_")} and "acc_TP" not in m
    assert any(k in m for k in ("acc_C", "acc_T", "acc_D"))
    assert record["parameters"]["trainable"] > 0
    ckpt = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert main(["test", "--config", cfg, "--ckpt_path", ckpt]) == 0
    tested = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert main(["predict", "--config", cfg, "--ckpt_path", ckpt]) == 0
    rows = _lines(tmp_path / "run" / "predictions.jsonl")
    test_csv = qa_set / "nextqa" / "test.csv"
    assert len(rows) == len(test_csv.read_text().splitlines()) - 1  # one line per test question
    row = rows[0]
    assert {"qid", "video_id", "question", "prediction", "option", "scores", "answer_index"} <= set(row)
    assert len(row["scores"]) == 5 and sum(row["scores"]) == pytest.approx(1, abs=1e-4)
    assert row["option"] and row["prediction"] == max(range(5), key=row["scores"].__getitem__)
    # The standalone evaluator on the predictions gives the test metrics.
    scored = evaluate_files(tmp_path / "run" / "predictions.jsonl", test_csv)
    assert scored["accuracy"] == pytest.approx(tested["accuracy"])
    assert {k: v for k, v in scored.items()} == pytest.approx({k: tested[k] for k in scored})


def test_open_ended_fit_and_predict(qa_set, tmp_path):
    cfg = _write(qa_config(qa_set, tmp_path / "run", "open"), tmp_path / "c.yaml")
    assert main(["fit", "--config", cfg]) == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert {"accuracy", "num_questions", "oov_percent"} <= set(m)
    ckpt = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert main(["predict", "--config", cfg, "--ckpt_path", ckpt]) == 0
    rows = _lines(tmp_path / "run" / "predictions.jsonl")
    truth = json.loads((qa_set / "msrvtt_qa" / "test_qa.json").read_text())
    assert len(rows) == len(truth)
    assert isinstance(rows[0]["prediction"], str) and rows[0]["prediction"] == rows[0]["top5"][0][0]
    assert rows[0]["answer"] in {t["answer"] for t in truth}
    scored = evaluate_files(tmp_path / "run" / "predictions.jsonl", qa_set / "msrvtt_qa" / "test_qa.json")
    assert scored["num_questions"] == len(truth)
    # Another answer vocabulary would give the classifier other meanings: the checkpoint refuses.
    other = _write(qa_config(qa_set, tmp_path / "run", "open", num_answers=2), tmp_path / "o.yaml")
    assert main(["test", "--config", other, "--ckpt_path", ckpt]) != 0


def test_distillation_trains_and_refuses_adapted_strategies(qa_set, tmp_path, capsys):
    cfg = qa_config(qa_set, tmp_path / "run", "multiple_choice", distill_weight=1.0)
    cfg["trainer"]["log_every_n_steps"] = 1
    assert main(["fit", "--config", _write(cfg, tmp_path / "c.yaml")]) == 0
    log = (tmp_path / "run" / "csv" / "version_0" / "metrics.csv").read_text()
    assert "train/distill_loss" in log
    cfg = qa_config(qa_set, tmp_path / "lora", "open", head="similarity", distill_weight=1.0)
    cfg["transfer"] = [{"name": "lora"}]
    assert main(["fit", "--config", _write(cfg, tmp_path / "l.yaml")]) == 2
    err = capsys.readouterr().err
    assert "lora" in err and "distill_weight" in err


# coop learns a class prompt, and QA encodes no class names; mean_pool alone with the similarity
# head trains nothing (the engine says so).
REFUSED = {"coop": "class prompt", "mean_pool": "nothing to train"}
# Distillation trains nothing itself: its student here is the model with a temporal transformer.
COMPANIONS = {"distillation": [{"name": "temporal_transformer", "layers": 1}]}


@pytest.mark.parametrize("mode", ["multiple_choice", "open"])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_with_qa(name, mode, qa_set, tmp_path, capsys):
    cfg = qa_config(qa_set, tmp_path / "run", mode, head="similarity")
    cfg["transfer"] = [{"name": name}, *COMPANIONS.get(name, [])]
    cfg["trainer"].update(limit_train_batches=1, limit_val_batches=1)
    rc = main(["fit", "--config", _write(cfg, tmp_path / "c.yaml")])
    if name in REFUSED:
        assert rc == 2
        err = capsys.readouterr().err
        assert REFUSED[name] in err
        return
    assert rc == 0
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"accuracy", "num_questions"} <= set(record["metrics"])
    assert record["transfer"] == [t["name"] for t in cfg["transfer"]]
    assert record["parameters"]["trainable"] > 0


def test_fusion_head_refuses_video_conditioned_text_prompts(qa_set, tmp_path, capsys):
    cfg = qa_config(qa_set, tmp_path / "run", "multiple_choice")
    cfg["transfer"] = [{"name": "xclip_prompt"}]
    assert main(["fit", "--config", _write(cfg, tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "xclip_prompt" in err and "qa" in err
