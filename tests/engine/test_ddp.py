"""Distributed data parallel on CPU (2 processes, gloo) through torchrun, as a user would scale
out: each clip is evaluated on exactly one rank and the metrics see the whole split."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from .test_engine import retrieval_config, sets  # noqa: F401  (fixture)


def test_ddp_two_cpu_processes_gather_the_whole_split(sets, tmp_path):  # noqa: F811
    cfg = retrieval_config(sets, tmp_path / "run")
    cfg["transfer"] = [{"name": "temporal_conv"}]
    cfg["trainer"].update(accelerator="cpu", devices=2, strategy="ddp", limit_val_batches=None)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", "29531", "-m", "vidlift", "fit", "--config", str(path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # The generated set's validation split, whole, although each rank saw only half of it.
    from vidlift.data.datasets import read_msrvtt

    val = read_msrvtt(sets["retrieval"] / "msrvtt/train_val_videodatainfo.json", splits=["validate", "val"])
    assert record["metrics"]["num_videos"] == len(val) > 1
    assert record["metrics"]["num_texts"] == sum(len(v.captions) for v in val)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_ddp_gathers_list_outputs_of_every_query_once(tmp_path):
    """Grounding's evaluation outputs are lists (windows per query): under DDP every rank's lists
    are gathered and each query is scored once, whatever rank evaluated it."""
    from vidlift.synthetic.synth import generate

    from .test_grounding_engine import grounding_config

    data = generate("grounding", tmp_path / "g", num_videos=6, num_frames=32, size=32, seed=5, workers=0,
                    progress=False)
    cfg = grounding_config({"short": data}, tmp_path / "run")
    cfg["trainer"].update(accelerator="cpu", devices=2, strategy="ddp", limit_val_batches=None,
                          limit_train_batches=1)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", "29533", "-m", "vidlift", "fit", "--config", str(path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    queries = (data / "qvhighlights/highlight_train_release.jsonl").read_text().splitlines()
    assert record["metrics"]["num_queries"] == len(queries) > 2  # odd or even, each query once
    assert record["metrics"]["MR-full-num_queries"] == len(queries)
