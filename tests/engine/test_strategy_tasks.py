"""Every transfer strategy trains and evaluates through `vidlift fit` on the generated
recognition and retrieval benchmarks with `tiny`: a couple of steps each, asserting on the
metrics file, the checkpoint and the delta."""

from __future__ import annotations

import json
import os

import pytest
import torch
import yaml

from vidlift.cli import main
from vidlift.transfer import STRATEGIES

from .test_engine import recognition_config, retrieval_config, sets  # noqa: F401  (fixture)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The retrieval metric scores every caption against every video; a video-conditioned text
# prompt would need every video's tokens at metric time, so the task refuses it.
# A class prompt (CoOp) only shapes class-name texts, which retrieval never encodes.
REFUSED = {("retrieval", "xclip_prompt"): "text_conditioner|video-conditioned|xclip_prompt",
           ("retrieval", "coop"): "class prompt",
           # Parameter-free meanP alone trains nothing in retrieval (CLIP4Clip pairs it with full
           # fine-tuning); the engine says so instead of running an empty optimiser.
           ("retrieval", "mean_pool"): "nothing to train"}
# Distillation trains nothing itself: its student here is the model with a temporal transformer.
COMPANIONS = {"distillation": [{"name": "temporal_transformer", "layers": 1}]}


@pytest.mark.parametrize("task", ["recognition", "retrieval"])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_fits_and_evaluates(task, name, sets, tmp_path, capsys):  # noqa: F811
    build = recognition_config if task == "recognition" else retrieval_config
    cfg = build(sets, tmp_path / "run")
    cfg["transfer"] = [{"name": name}, *COMPANIONS.get(name, [])]
    if name == "mean_pool" and task == "recognition":
        cfg["task"]["head"] = "linear"  # a linear classifier on mean-pooled frozen features
    cfg["trainer"].update(limit_train_batches=2, limit_val_batches=1)
    cfg["data"]["batch_size"] = 4
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    rc = main(["fit", "--config", str(path)])
    if (task, name) in REFUSED:
        assert rc == 2
        err = capsys.readouterr().err
        assert any(word in err for word in REFUSED[(task, name)].split("|")), err
        return
    assert rc == 0
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    key = "top1" if task == "recognition" else "t2v_R@1"
    assert key in record["metrics"] and record["transfer"] == [t["name"] for t in cfg["transfer"]]
    assert record["parameters"]["trainable"] > 0
    assert record["gflops_per_clip"] > 0
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2 and ckpt["state_dict"]
    assert (tmp_path / "run" / "delta.safetensors").is_file()
