"""``transfer: [{name: distillation}, {name: temporal_transformer}]`` end to end through `vidlift
fit` on the generated recognition and retrieval benchmarks with `tiny`: the distillation term is
logged, only the temporal transformer trains, and neither the checkpoint nor the delta holds a
teacher tensor; a second run takes the first run's folder as its teacher; QA's answer
distributions through the same teacher."""

from __future__ import annotations

import csv
import json

import torch
import yaml
from safetensors.torch import load_file

from vidlift.cli import main

from ..engine.test_engine import recognition_config, retrieval_config, sets  # noqa: F401  (fixture)
from ..engine.test_qa_engine import qa_config, qa_set  # noqa: F401  (fixture)

TRANSFER = [{"name": "distillation"}, {"name": "temporal_transformer", "layers": 1}]


def _fit(cfg: dict, tmp_path, name: str) -> dict:
    cfg["trainer"].update(limit_train_batches=2, limit_val_batches=1, log_every_n_steps=1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", "--config", str(path)]) == 0
    return json.loads((tmp_path / name / "metrics.json").read_text())


def _logged(run, key: str) -> list[float]:
    with open(run / "csv" / "version_0" / "metrics.csv") as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


def _stored_keys(run) -> tuple[set[str], set[str]]:
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return set(ckpt["state_dict"]), set(load_file(str(run / "delta.safetensors")))


def test_recognition_and_retrieval_train_with_a_frozen_ilfm_teacher(sets, tmp_path):  # noqa: F811
    for task, build, key, metric in (("recognition", recognition_config, "train/aux_KnowledgeDistillation", "top1"),
                                     ("retrieval", retrieval_config, "train/KnowledgeDistillation", "t2v_R@1")):
        cfg = build(sets, tmp_path / task)
        cfg["transfer"] = TRANSFER
        record = _fit(cfg, tmp_path, task)
        assert record["transfer"] == ["distillation", "temporal_transformer"] and metric in record["metrics"]
        # metrics.json holds evaluation metrics only (the engine's); the term is in the training log
        losses = _logged(tmp_path / task, key)
        assert len(losses) == 2 and all(v > 0 for v in losses), losses
        ckpt, delta = _stored_keys(tmp_path / task)
        assert delta and all(k.startswith("roles.video_head.") for k in delta), sorted(delta)
        assert {k for k in ckpt if k.startswith("model.")} == {f"model.{k}" for k in delta}


def test_a_trained_run_teaches_the_next(sets, tmp_path):  # noqa: F811
    cfg = recognition_config(sets, tmp_path / "teacher")
    cfg["transfer"] = [{"name": "temporal_transformer", "layers": 1}]
    _fit(cfg, tmp_path, "teacher")
    cfg = recognition_config(sets, tmp_path / "student")
    cfg["transfer"] = [{"name": "distillation", "teacher": str(tmp_path / "teacher"), "loss": "pearson"},
                       {"name": "temporal_transformer", "layers": 1}]
    record = _fit(cfg, tmp_path, "student")
    assert "top1" in record["metrics"]
    losses = _logged(tmp_path / "student", "train/aux_KnowledgeDistillation")
    assert len(losses) == 2 and all(0 < v <= 2 for v in losses)  # a Pearson distance
    ckpt, delta = _stored_keys(tmp_path / "student")
    assert all(k.startswith("roles.video_head.") for k in delta)


def test_qa_distils_answer_distributions_through_the_strategy(qa_set, tmp_path, capsys):  # noqa: F811
    for mode in ("multiple_choice", "open"):
        cfg = qa_config(qa_set, tmp_path / mode, mode, head="similarity")
        cfg["transfer"] = TRANSFER
        assert "accuracy" in _fit(cfg, tmp_path, mode)["metrics"]
        losses = _logged(tmp_path / mode, "train/aux_KnowledgeDistillation")
        assert losses and all(v > 0 for v in losses), (mode, losses)
    cfg = qa_config(qa_set, tmp_path / "both", "multiple_choice", head="similarity", distill_weight=1.0)
    cfg["transfer"] = TRANSFER
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", "--config", str(path)]) == 2
    assert "would both distil the answer distribution" in capsys.readouterr().err
